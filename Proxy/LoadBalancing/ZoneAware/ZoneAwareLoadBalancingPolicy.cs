using System.Globalization;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>
/// Envoy's zone-aware routing (cluster <c>"LoadBalancingPolicy": "ProxyMesh.ZoneAware"</c>, or its older name
/// <c>ZoneAware</c>): keeps traffic in this sidecar's zone as far as the upstream hosts' spread over zones allows, given
/// how the local service's own hosts are spread. The zone is chosen by <see cref="ZoneRoutingTable"/>, kept in the
/// shared <see cref="SnapshotCache{T}"/> and rebuilt only when the available hosts, the local distribution, the zone
/// or panic mode change; the host within it by a weighted policy (<see cref="InnerPicker"/>, least request by
/// default). Tried hosts are skipped within the zone, then among all zones when the zone has none left. A pick
/// allocates nothing.
/// </summary>
internal sealed class ZoneAwareLoadBalancingPolicy : ILoadBalancingPolicy, IHostPicker
{
    public const string PolicyName = "ProxyMesh.ZoneAware";

    /// <summary>The policy's first name, still accepted.</summary>
    public const string AliasName = "ZoneAware";

    /// <summary>Cluster metadata: <c>LeastRequest</c> (default), <c>Random</c> or <c>RoundRobin</c>.</summary>
    public const string InnerKey = "ProxyMesh.ZoneAware.Inner";

    /// <summary>Cluster metadata: fewer available hosts than this turn zone routing off (default 6).</summary>
    public const string MinClusterSizeKey = "ProxyMesh.ZoneAware.MinClusterSize";

    public const int DefaultMinClusterSize = 6;

    private readonly ILocalZoneSource _localZones;
    private readonly IOptionsMonitor<ProxyMeshOptions> _mesh;
    private readonly ClusterTraffic _traffic;
    private readonly ZoneAwareStats _stats;
    private readonly Random _random;
    private readonly SnapshotCache<CachedTable> _tables;

    public ZoneAwareLoadBalancingPolicy(
        ILocalZoneSource localZones, IOptionsMonitor<ProxyMeshOptions> mesh, ClusterTraffic traffic, ZoneAwareStats stats, Random random)
    {
        _localZones = localZones;
        _mesh = mesh;
        _traffic = traffic;
        _stats = stats;
        _random = random;
        _tables = new SnapshotCache<CachedTable>(Build, IsCurrent);
    }

    public string Name => PolicyName;

    /// <summary>Routing tables (with their zones' weights) built so far: never per retry.</summary>
    internal long TableBuilds => _tables.Builds;

    /// <summary>Whether a policy name selects this policy.</summary>
    public static bool IsNamed(string? name) =>
        string.Equals(name, PolicyName, StringComparison.OrdinalIgnoreCase) || string.Equals(name, AliasName, StringComparison.OrdinalIgnoreCase);

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations) =>
        Pick(cluster, availableDestinations, context.Request, null, TriedHosts.Of(context));

    public DestinationState? Pick(ClusterState cluster, IReadOnlyList<DestinationState> available, HttpRequest? request, string? hashKey, TriedHosts? tried)
    {
        if (available.Count == 0)
        {
            // YARP answers 503 without asking the policy; UpstreamStats counts upstream_cx_none_healthy.
            return null;
        }

        var cached = _tables.For(cluster, available);
        var table = cached.Table;
        var series = cached.Series;
        ZoneBucket bucket;
        switch (table.State)
        {
            case ZoneRoutingState.Direct:
                series.AllDirectly.Inc();
                bucket = table.Local!;
                break;
            case ZoneRoutingState.Residual when table.Local is not null
                && (table.TotalResidual == 0 || _random.Next(ZoneRoutingTable.Scale) < table.LocalPercentToRoute):
                series.Sampled.Inc();
                bucket = table.Local;
                break;
            case ZoneRoutingState.Residual:
                series.CrossZone.Inc();
                bucket = CrossZone(table, _random.NextInt64(table.TotalResidual));
                break;
            default:
                if (table.Reason == AllZonesReason.ClusterTooSmall)
                {
                    series.TooSmall.Inc();
                }
                else if (table.Reason == AllZonesReason.LocalClusterNotOk)
                {
                    series.LocalNotOk.Inc();
                }

                bucket = table.All;
                break;
        }

        tried = TriedHosts.Effective(tried, available);
        if (tried is not null && bucket != table.All && TriedHosts.Effective(tried, bucket.Hosts) is null)
        {
            // Every host of the zone has been tried: the retry goes to an untried host of any zone.
            bucket = table.All;
        }

        var index = bucket.Picker!.Pick(_random, tried);
        (bucket == table.All ? table.BucketOfHost[index] : bucket).Requests!.Inc();
        return bucket.Hosts[index];
    }

    private static ZoneBucket CrossZone(ZoneRoutingTable table, long sample)
    {
        var cumulative = table.CumulativeResidual;
        for (var i = 0; i < cumulative.Length; i++)
        {
            if (sample < cumulative[i])
            {
                return table.CrossZones[i];
            }
        }

        return table.CrossZones[^1];
    }

    private CachedTable Build(ClusterState cluster, IReadOnlyList<DestinationState> available)
    {
        var local = _localZones.Current;
        var health = _traffic.For(cluster.ClusterId);
        var panic = health.InPanic;
        var zone = _mesh.CurrentValue.Zone;
        var metadata = cluster.Model?.Config.Metadata;
        var inner = Enum.TryParse<InnerPolicy>(metadata?.GetValueOrDefault(InnerKey), ignoreCase: true, out var parsed) ? parsed : InnerPolicy.LeastRequest;
        var minClusterSize = int.TryParse(metadata?.GetValueOrDefault(MinClusterSizeKey), NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            ? size
            : DefaultMinClusterSize;
        var table = ZoneRoutingTable.Build(available, zone, local, minClusterSize, panic);
        var series = _stats.For(cluster.ClusterId);
        foreach (var bucket in table.Zones)
        {
            bucket.Requests = series.Requests(bucket.Zone);
            bucket.Picker = new InnerPicker(inner, bucket.Hosts);
        }

        table.All.Picker = new InnerPicker(inner, table.All.Hosts);
        return new CachedTable(table, local, health, panic, zone, series);
    }

    private bool IsCurrent(CachedTable cached) =>
        ReferenceEquals(cached.Local, _localZones.Current) && cached.Panic == cached.Health.InPanic && cached.Zone == _mesh.CurrentValue.Zone;

    private sealed record CachedTable(
        ZoneRoutingTable Table,
        LocalZones? Local,
        ClusterHealthView Health,
        bool Panic,
        string Zone,
        ZoneAwareStats.Series Series);
}
