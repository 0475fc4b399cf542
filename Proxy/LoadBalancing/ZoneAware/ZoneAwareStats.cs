using ProxyMesh.Proxy.Observability;
using System.Collections.Concurrent;
using Prometheus;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>
/// Per cluster: Envoy's zone routing stats (<c>lb_zone_routing_all_directly</c>, <c>lb_zone_routing_sampled</c>,
/// <c>lb_zone_routing_cross_zone</c>, <c>lb_zone_cluster_too_small</c>, <c>lb_local_cluster_not_ok</c>) and picks by
/// destination zone (the source zone is every series' static <c>source_zone</c> label).
/// </summary>
public sealed class ZoneAwareStats
{
    private readonly Counter _allDirectly;
    private readonly Counter _sampled;
    private readonly Counter _crossZone;
    private readonly Counter _tooSmall;
    private readonly Counter _localNotOk;
    private readonly Counter _requests;
    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

    public ZoneAwareStats(CollectorRegistry registry)
    {
        var factory = StatsFactory.For(registry);
        _allDirectly = factory.CreateCounter("proxymesh_lb_zone_routing_all_directly_total", "Zone-aware picks that stayed in the local zone because it has at least its share of upstream hosts.", "cluster");
        _sampled = factory.CreateCounter("proxymesh_lb_zone_routing_sampled_total", "Zone-aware picks sampled to stay in the local zone (the local zone has less than its share of upstream hosts).", "cluster");
        _crossZone = factory.CreateCounter("proxymesh_lb_zone_routing_cross_zone_total", "Zone-aware picks sent to another zone by residual capacity.", "cluster");
        _tooSmall = factory.CreateCounter("proxymesh_lb_zone_cluster_too_small_total", "Zone-aware picks made over all zones because the cluster had fewer available hosts than min_cluster_size.", "cluster");
        _localNotOk = factory.CreateCounter("proxymesh_lb_local_cluster_not_ok_total", "Zone-aware picks made over all zones because the local service's zone distribution was unknown or had no host in this zone.", "cluster");
        _requests = factory.CreateCounter("proxymesh_lb_zone_requests_total", "Zone-aware picks by the zone of the host picked (the source zone is the source_zone label).", "cluster", "destination_zone");
    }

    public Series For(string cluster) => _series.GetOrAdd(cluster, static (name, stats) => new Series(stats, name), this);

    /// <summary>The series of one cluster.</summary>
    public sealed class Series
    {
        private readonly ZoneAwareStats _stats;
        private readonly string _cluster;
        private readonly ConcurrentDictionary<string, Counter.Child> _zones = new(StringComparer.Ordinal);

        internal Series(ZoneAwareStats stats, string cluster)
        {
            _stats = stats;
            _cluster = cluster;
            AllDirectly = stats._allDirectly.WithLabels(cluster);
            Sampled = stats._sampled.WithLabels(cluster);
            CrossZone = stats._crossZone.WithLabels(cluster);
            TooSmall = stats._tooSmall.WithLabels(cluster);
            LocalNotOk = stats._localNotOk.WithLabels(cluster);
        }

        public Counter.Child AllDirectly { get; }

        public Counter.Child Sampled { get; }

        public Counter.Child CrossZone { get; }

        public Counter.Child TooSmall { get; }

        public Counter.Child LocalNotOk { get; }


        /// <summary>Picks to hosts of <paramref name="zone"/> (resolved once per routing table, not per pick).</summary>
        public Counter.Child Requests(string zone) =>
            _zones.GetOrAdd(zone, static (name, series) => series._stats._requests.WithLabels(series._cluster, name.Length == 0 ? "unknown" : name), this);
    }
}
