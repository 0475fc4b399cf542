using System.Collections.Concurrent;
using Prometheus;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>What one upstream attempt says about its host.</summary>
public enum UpstreamOutcome
{
    /// <summary>Not the host's doing (the client went away, the proxy failed): not counted.</summary>
    Ignored,
    Success,

    /// <summary>A 5xx other than 502/503/504.</summary>
    Error5xx,

    /// <summary>502, 503, 504, a connection failure, a timeout or a reset: counts as a 5xx too.</summary>
    GatewayFailure,
}

/// <summary>
/// Envoy-style outlier detection for every cluster. Each upstream outcome is recorded per destination (no allocation
/// after a destination's first request); the consecutive detectors eject at once, and a timer per cluster sweeps every
/// <c>Interval</c> for the success-rate and failure-percentage detectors and for hosts whose ejection is over. Ejection
/// marks the destination's passive health unhealthy with YARP's <see cref="IDestinationHealthUpdater"/>, for the
/// ejection time, so YARP's load balancing skips it and YARP brings it back on its own.
/// </summary>
internal sealed partial class OutlierDetector : IDisposable
{
    private readonly ConcurrentDictionary<string, ClusterMonitor> _clusters = new(StringComparer.Ordinal);
    private readonly ClusterPolicies _policies;
    private readonly IDestinationHealthUpdater _health;
    private readonly IProxyStateLookup _proxyState;
    private readonly OutlierDetectionStats _stats;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly ILogger<OutlierDetector> _logger;

    public OutlierDetector(
        ClusterPolicies policies,
        IDestinationHealthUpdater health,
        IProxyStateLookup proxyState,
        OutlierDetectionStats stats,
        CollectorRegistry registry,
        TimeProvider time,
        Random random,
        ILogger<OutlierDetector> logger)
    {
        _policies = policies;
        _health = health;
        _proxyState = proxyState;
        _stats = stats;
        _time = time;
        _random = random;
        _logger = logger;
        registry.AddBeforeCollectCallback(() =>
        {
            var now = _time.GetUtcNow();
            foreach (var monitor in _clusters.Values)
            {
                lock (monitor)
                {
                    ReturnExpired(monitor, now);
                }
            }
        });
    }

    private OutlierDetectionOptions Options(string clusterId) => _policies.For<OutlierDetectionOptions>(clusterId, OutlierDetectionOptions.PolicyName);

    /// <summary>Records one upstream attempt, looking the cluster's policy and bookkeeping up by id (cluster contexts skip the lookups).</summary>
    public void Record(ClusterState cluster, DestinationState destination, UpstreamOutcome outcome)
    {
        if (outcome == UpstreamOutcome.Ignored)
        {
            return;
        }

        var options = Options(cluster.ClusterId);
        if (options.Enabled)
        {
            Record(MonitorFor(cluster.ClusterId), options, cluster, destination, outcome);
        }
    }

    /// <summary>The cluster's bookkeeping, for a cluster context to keep (it lasts while the cluster exists).</summary>
    internal ClusterMonitor MonitorFor(string clusterId) =>
        _clusters.GetOrAdd(clusterId, static (id, self) => new ClusterMonitor(id, self._stats), this);

    /// <summary>Records one upstream attempt with what a cluster context resolved: no lookup by cluster.</summary>
    /// <param name="options">The cluster's policy, enabled.</param>
    internal void Record(ClusterMonitor monitor, OutlierDetectionOptions options, ClusterState cluster, DestinationState destination, UpstreamOutcome outcome)
    {
        if (!ReferenceEquals(monitor.Cluster, cluster))
        {
            Start(monitor, cluster, options);
        }

        var host = monitor.Hosts.GetOrAdd(destination, static _ => new HostMonitor());
        if (outcome == UpstreamOutcome.Success)
        {
            Interlocked.Increment(ref host.Successes);
            if (Volatile.Read(ref host.Consecutive5xx) != 0)
            {
                Volatile.Write(ref host.Consecutive5xx, 0);
            }

            if (Volatile.Read(ref host.ConsecutiveGatewayFailure) != 0)
            {
                Volatile.Write(ref host.ConsecutiveGatewayFailure, 0);
            }

            return;
        }

        Interlocked.Increment(ref host.Failures);
        if (outcome == UpstreamOutcome.GatewayFailure)
        {
            if (Interlocked.Increment(ref host.ConsecutiveGatewayFailure) >= options.ConsecutiveGatewayFailure)
            {
                Consecutive(monitor, destination, host, EjectionType.ConsecutiveGatewayFailure, options);
            }
        }
        else if (Volatile.Read(ref host.ConsecutiveGatewayFailure) != 0)
        {
            Volatile.Write(ref host.ConsecutiveGatewayFailure, 0);
        }

        if (Interlocked.Increment(ref host.Consecutive5xx) >= options.Consecutive5xx)
        {
            Consecutive(monitor, destination, host, EjectionType.Consecutive5xx, options);
        }
    }

    /// <summary>The cluster's first request (or a new <see cref="ClusterState"/> after it was removed and added again) starts its sweeps.</summary>
    private void Start(ClusterMonitor monitor, ClusterState cluster, OutlierDetectionOptions options)
    {
        lock (monitor)
        {
            if (!_clusters.TryGetValue(monitor.ClusterId, out var current) || !ReferenceEquals(current, monitor))
            {
                return; // A sweep dropped this monitor (its cluster was gone) after the request looked it up.
            }

            monitor.Cluster = cluster;
            if (monitor.Timer is null)
            {
                monitor.Interval = options.Interval;
                monitor.Detector = this;
                monitor.Timer = _time.CreateTimer(static state => ((ClusterMonitor)state!).Detector!.Sweep((ClusterMonitor)state!), monitor, options.Interval, options.Interval);
            }
        }
    }

    private void Consecutive(ClusterMonitor monitor, DestinationState destination, HostMonitor host, EjectionType type, OutlierDetectionOptions options)
    {
        lock (monitor)
        {
            ref var counter = ref type == EjectionType.Consecutive5xx ? ref host.Consecutive5xx : ref host.ConsecutiveGatewayFailure;
            var threshold = type == EjectionType.Consecutive5xx ? options.Consecutive5xx : options.ConsecutiveGatewayFailure;
            if (Volatile.Read(ref counter) < threshold)
            {
                return; // Another request detected it first.
            }

            // Envoy resets the counter on detection, so the next ejection takes a new run of failures.
            Volatile.Write(ref counter, 0);
            var enforcing = type == EjectionType.Consecutive5xx ? options.EnforcingConsecutive5xx : options.EnforcingConsecutiveGatewayFailure;
            TryEject(monitor, destination, host, type, enforcing, options, _time.GetUtcNow());
        }
    }

    /// <summary>Detected → counted; enforced with probability <paramref name="enforcing"/> %; within <c>MaxEjectionPercent</c> (one host always may) → ejected.</summary>
    private void TryEject(ClusterMonitor monitor, DestinationState destination, HostMonitor host, EjectionType type, int enforcing, OutlierDetectionOptions options, DateTimeOffset now)
    {
        if (host.IsEjectedAt(now) || monitor.Cluster is not { } cluster)
        {
            return;
        }

        // A request may hold a host that a sweep has since dropped (it left the cluster): ejecting it would count an
        // active ejection that no sweep ever takes back.
        if (!monitor.Hosts.TryGetValue(destination, out var tracked) || !ReferenceEquals(tracked, host))
        {
            return;
        }

        monitor.Stats.Detected[(int)type].Inc();
        if (!OutlierEvaluation.IsEnforced(_random.NextDouble(), enforcing))
        {
            return;
        }

        ReturnExpired(monitor, now);
        if (!OutlierEvaluation.MayEjectAnother(monitor.ActiveEjections, cluster.DestinationsState.AllDestinations.Count, options.MaxEjectionPercent))
        {
            monitor.Stats.Overflow.Inc();
            return;
        }

        host.TimesEjected = OutlierEvaluation.MultiplierAfterEjection(host.TimesEjected, options);
        var duration = OutlierEvaluation.EjectionTime(host.TimesEjected, options);
        host.Ejected = true;
        host.EjectedUntil = now + duration;
        Volatile.Write(ref host.Consecutive5xx, 0);
        Volatile.Write(ref host.ConsecutiveGatewayFailure, 0);
        _health.SetPassive(cluster, destination, DestinationHealth.Unhealthy, duration);
        monitor.ActiveEjections++;
        monitor.Stats.Active.Set(monitor.ActiveEjections);
        monitor.Stats.Enforced[(int)type].Inc();
        LogEjected(monitor.ClusterId, destination.DestinationId, OutlierDetectionStats.Label(type), duration, host.TimesEjected);
    }

    /// <summary>Brings back, in this bookkeeping, hosts whose ejection is over (YARP has reactivated them already).</summary>
    private static void ReturnExpired(ClusterMonitor monitor, DateTimeOffset now)
    {
        foreach (var (_, host) in monitor.Hosts)
        {
            if (host.Ejected && !host.IsEjectedAt(now))
            {
                host.Ejected = false;
                monitor.ActiveEjections--;
            }
        }

        monitor.Stats.Active.Set(monitor.ActiveEjections);
    }

    /// <summary>Every <c>Interval</c>: un-ejection, the ejection multiplier's decay, and the interval detectors.</summary>
    internal void Sweep(ClusterMonitor monitor)
    {
        if (!_proxyState.TryGetCluster(monitor.ClusterId, out var cluster))
        {
            lock (monitor)
            {
                monitor.Timer?.Dispose();
                monitor.Timer = null;
                monitor.Cluster = null;
                _clusters.TryRemove(monitor.ClusterId, out _);
                monitor.Stats.Active.Set(0);
            }

            return;
        }

        var options = Options(monitor.ClusterId);
        lock (monitor)
        {
            monitor.Cluster = cluster;
            if (options.Interval != monitor.Interval)
            {
                monitor.Interval = options.Interval;
                monitor.Timer?.Change(options.Interval, options.Interval);
            }

            var now = _time.GetUtcNow();
            monitor.Destinations.Clear();
            monitor.Counts.Clear();
            foreach (var (destination, host) in monitor.Hosts)
            {
                if (!cluster.Destinations.TryGetValue(destination.DestinationId, out var current) || !ReferenceEquals(current, destination))
                {
                    monitor.Hosts.TryRemove(destination, out _);
                    if (host.Ejected)
                    {
                        monitor.ActiveEjections--;
                    }

                    continue;
                }

                if (host.Ejected)
                {
                    if (!host.IsEjectedAt(now))
                    {
                        host.Ejected = false;
                        monitor.ActiveEjections--;
                    }
                }
                else
                {
                    host.TimesEjected = OutlierEvaluation.MultiplierAfterHealthyInterval(host.TimesEjected);
                }

                monitor.Destinations.Add((destination, host));
                monitor.Counts.Add(new HostCounts(Interlocked.Exchange(ref host.Successes, 0), Interlocked.Exchange(ref host.Failures, 0)));
            }

            if (!options.Enabled)
            {
                EndEjections(monitor, cluster);
                return;
            }

            monitor.Stats.Active.Set(monitor.ActiveEjections);

            var counts = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(monitor.Counts);
            monitor.Outliers.Clear();
            OutlierEvaluation.SuccessRateOutliers(counts, options, monitor.Outliers);
            EjectOutliers(monitor, EjectionType.SuccessRate, options.EnforcingSuccessRate, options, now);
            monitor.Outliers.Clear();
            OutlierEvaluation.FailurePercentageOutliers(counts, options, monitor.Outliers);
            EjectOutliers(monitor, EjectionType.FailurePercentage, options.EnforcingFailurePercentage, options, now);
        }
    }

    /// <summary>
    /// The policy was turned off by a reload: current ejections end and the hosts' history is forgotten, as in Envoy,
    /// where a changed cluster is rebuilt with hosts that carry no outlier state.
    /// </summary>
    private void EndEjections(ClusterMonitor monitor, ClusterState cluster)
    {
        foreach (var (destination, host) in monitor.Destinations)
        {
            if (host.Ejected)
            {
                // Only hosts this detector ejected: YARP's own passive checks, if configured, keep theirs.
                _health.SetPassive(cluster, destination, DestinationHealth.Unknown, TimeSpan.Zero);
                LogEjectionEnded(monitor.ClusterId, destination.DestinationId);
            }
        }

        monitor.Hosts.Clear();
        monitor.ActiveEjections = 0;
        monitor.Stats.Active.Set(0);
    }

    private void EjectOutliers(ClusterMonitor monitor, EjectionType type, int enforcing, OutlierDetectionOptions options, DateTimeOffset now)
    {
        foreach (var index in monitor.Outliers)
        {
            var (destination, host) = monitor.Destinations[index];
            TryEject(monitor, destination, host, type, enforcing, options, now);
        }
    }

    public void Dispose()
    {
        foreach (var monitor in _clusters.Values)
        {
            lock (monitor)
            {
                monitor.Timer?.Dispose();
                monitor.Timer = null;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outlier detection ejected {Destination} from cluster {Cluster} ({Type}) for {Duration}, ejection number {TimesEjected}")]
    private partial void LogEjected(string cluster, string destination, string type, TimeSpan duration, int timesEjected);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outlier detection turned off for cluster {Cluster}: the ejection of {Destination} ends")]
    private partial void LogEjectionEnded(string cluster, string destination);

    /// <summary>One cluster's hosts; its fields other than the hosts' counters change under its lock.</summary>
    internal sealed class ClusterMonitor(string clusterId, OutlierDetectionStats stats)
    {
        public string ClusterId { get; } = clusterId;

        public OutlierDetectionStats.Cluster Stats { get; } = new(stats, clusterId);

        public ConcurrentDictionary<DestinationState, HostMonitor> Hosts { get; } = new();

        public volatile ClusterState? Cluster;

        public OutlierDetector? Detector;

        public System.Threading.ITimer? Timer;

        public TimeSpan Interval;

        public int ActiveEjections;

        public List<(DestinationState Destination, HostMonitor Host)> Destinations { get; } = [];

        public List<HostCounts> Counts { get; } = [];

        public List<int> Outliers { get; } = [];
    }

    /// <summary>One destination: counters written lock-free by requests, ejection state under the cluster's lock.</summary>
    internal sealed class HostMonitor
    {
        public int Consecutive5xx;
        public int ConsecutiveGatewayFailure;
        public long Successes;
        public long Failures;
        public int TimesEjected;
        public bool Ejected;
        public DateTimeOffset EjectedUntil;

        public bool IsEjectedAt(DateTimeOffset now) => Ejected && now < EjectedUntil;
    }
}
