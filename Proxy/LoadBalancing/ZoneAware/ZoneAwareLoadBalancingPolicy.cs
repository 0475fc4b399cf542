using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>
/// Envoy's zone-aware routing (cluster <c>"LoadBalancingPolicy": "ZoneAware"</c>): keeps traffic in this sidecar's
/// zone as far as the upstream hosts' spread over zones allows, given how the local service's own hosts are spread.
/// The zone is chosen by <see cref="ZoneRoutingTable"/>, computed once per change of the available hosts or of the
/// local distribution; the host within it by the inner policy (least request by default). A pick allocates nothing.
/// </summary>
internal sealed class ZoneAwareLoadBalancingPolicy(
    ILocalZoneSource localZones,
    IOptionsMonitor<ProxyMeshOptions> mesh,
    ClusterTraffic traffic,
    ZoneAwareStats stats,
    Random random) : ILoadBalancingPolicy
{
    public const string PolicyName = "ZoneAware";

    /// <summary>Cluster metadata: <c>LeastRequest</c> (default), <c>Random</c> or <c>RoundRobin</c>.</summary>
    public const string InnerKey = "ProxyMesh.ZoneAware.Inner";

    /// <summary>Cluster metadata: fewer available hosts than this turn zone routing off (default 6).</summary>
    public const string MinClusterSizeKey = "ProxyMesh.ZoneAware.MinClusterSize";

    public const int DefaultMinClusterSize = 6;

    private readonly ConcurrentDictionary<string, CachedTable> _tables = new(StringComparer.OrdinalIgnoreCase);

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var series = stats.For(cluster.ClusterId);
        if (availableDestinations.Count == 0)
        {
            // YARP answers 503 without asking the policy; UpstreamStats counts upstream_cx_none_healthy.
            return null;
        }

        var cached = TableFor(cluster, availableDestinations, series);
        var table = cached.Table;
        ZoneBucket bucket;
        switch (table.State)
        {
            case ZoneRoutingState.Direct:
                series.AllDirectly.Inc();
                bucket = table.Local!;
                break;
            case ZoneRoutingState.Residual when table.Local is not null
                && (table.TotalResidual == 0 || random.Next(ZoneRoutingTable.Scale) < table.LocalPercentToRoute):
                series.Sampled.Inc();
                bucket = table.Local;
                break;
            case ZoneRoutingState.Residual:
                series.CrossZone.Inc();
                bucket = CrossZone(table, random.NextInt64(table.TotalResidual));
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

        var index = InnerPicker.Pick(cached.Inner, bucket, random);
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

    private CachedTable TableFor(ClusterState cluster, IReadOnlyList<DestinationState> available, ZoneAwareStats.Series series)
    {
        var local = localZones.Current;
        var model = cluster.Model;
        var panic = traffic.InPanic(cluster.ClusterId);
        var zone = mesh.CurrentValue.Zone;
        if (_tables.TryGetValue(cluster.ClusterId, out var cached) && ReferenceEquals(cached.Destinations, available)
            && ReferenceEquals(cached.Local, local) && ReferenceEquals(cached.Model, model) && cached.Panic == panic
            && cached.Zone == zone)
        {
            return cached;
        }

        var metadata = model.Config.Metadata;
        var inner = Enum.TryParse<InnerPolicy>(metadata?.GetValueOrDefault(InnerKey), ignoreCase: true, out var parsed) ? parsed : InnerPolicy.LeastRequest;
        var minClusterSize = int.TryParse(metadata?.GetValueOrDefault(MinClusterSizeKey), NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            ? size
            : DefaultMinClusterSize;
        var table = ZoneRoutingTable.Build(available, zone, local, minClusterSize, panic);
        foreach (var bucket in table.Zones)
        {
            bucket.Requests = series.Requests(bucket.Zone);
        }

        cached = new CachedTable(available, local, model, panic, zone, inner, table);
        _tables[cluster.ClusterId] = cached;
        return cached;
    }

    private sealed record CachedTable(
        IReadOnlyList<DestinationState> Destinations,
        LocalZones? Local,
        ClusterModel Model,
        bool Panic,
        string Zone,
        InnerPolicy Inner,
        ZoneRoutingTable Table);
}
