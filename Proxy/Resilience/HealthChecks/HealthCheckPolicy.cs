namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// Policy <c>HealthCheck</c>: Envoy's active health checking of a cluster's hosts (off until <see cref="Type"/> is
/// set) and its load-balancing panic threshold (on by default). Thresholds follow Envoy: a host is marked unhealthy
/// after <see cref="UnhealthyThreshold"/> consecutive network failures (refused or reset connection, timeout) but at
/// once when it answers and says it is unhealthy (an unexpected HTTP status, a gRPC status other than SERVING); an
/// unhealthy host is healthy again after <see cref="HealthyThreshold"/> consecutive successes. A host not checked yet
/// takes traffic, and its first check decides.
/// </summary>
public sealed class HealthCheckPolicy
{
    public const string Name = "HealthCheck";

    /// <summary><c>Http</c>, <c>Tcp</c> or <c>Grpc</c>; empty leaves active health checking off.</summary>
    public string Type { get; set; } = "";

    /// <summary>HTTP checks: the path requested with GET.</summary>
    public string Path { get; set; } = "";

    /// <summary>HTTP checks: comma-separated statuses or inclusive ranges, e.g. <c>200-299,304</c>.</summary>
    public string ExpectedStatuses { get; set; } = "200";

    /// <summary>gRPC checks: the service name sent in <c>grpc.health.v1.HealthCheckRequest</c> ("" = the whole server).</summary>
    public string GrpcService { get; set; } = "";

    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A random time in [0, jitter] added to every wait.</summary>
    public TimeSpan IntervalJitter { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Envoy's <c>initial_jitter</c>: the first check of each host waits a random time in [0, jitter], so that hosts
    /// added together (at start-up, or by one discovery answer) are not all checked at once. Unset, the
    /// <see cref="IntervalJitter"/> applies to the first check too.
    /// </summary>
    public TimeSpan? InitialJitter { get; set; }

    /// <summary>The interval used while the cluster has not yet seen traffic (Envoy's <c>no_traffic_interval</c>).</summary>
    public TimeSpan NoTrafficInterval { get; set; } = TimeSpan.FromSeconds(60);

    public int HealthyThreshold { get; set; } = 2;

    public int UnhealthyThreshold { get; set; } = 3;

    /// <summary>
    /// Envoy's <c>healthy_panic_threshold</c>, in percent: when fewer of the cluster's hosts than this are healthy, load
    /// balancing uses all of them. 0 disables panic mode.
    /// </summary>
    public double PanicThreshold { get; set; } = 50;

    private HealthCheckType? _kind;
    private (int From, int To)[]? _statuses;

    internal HealthCheckType Kind => _kind ??= ParseType(Type) ?? HealthCheckType.None;

    internal bool Enabled => Kind != HealthCheckType.None;

    internal bool IsExpected(int status)
    {
        _statuses ??= ParseStatuses(ExpectedStatuses, out _);
        foreach (var (from, to) in _statuses)
        {
            if (status >= from && status <= to)
            {
                return true;
            }
        }

        return false;
    }

    internal static HealthCheckType? ParseType(string? type) => type?.Trim().ToLowerInvariant() switch
    {
        null or "" => HealthCheckType.None,
        "http" => HealthCheckType.Http,
        "tcp" => HealthCheckType.Tcp,
        "grpc" => HealthCheckType.Grpc,
        _ => null,
    };

    /// <param name="invalid">The first entry that is neither a status nor a range of statuses, or null.</param>
    internal static (int From, int To)[] ParseStatuses(string? statuses, out string? invalid)
    {
        invalid = null;
        var ranges = new List<(int, int)>();
        foreach (var entry in (statuses ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = entry.IndexOf('-', StringComparison.Ordinal);
            var (first, last) = dash < 0 ? (entry, entry) : (entry[..dash], entry[(dash + 1)..]);
            if (int.TryParse(first, out var from) && int.TryParse(last, out var to) && from is >= 100 and <= 599 && to is >= 100 and <= 599 && from <= to)
            {
                ranges.Add((from, to));
            }
            else
            {
                invalid ??= entry;
            }
        }

        return [.. ranges];
    }
}

internal enum HealthCheckType
{
    None,
    Http,
    Tcp,
    Grpc,
}
