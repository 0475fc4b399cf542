using Prometheus;
using ProxyMesh.Proxy.Discovery;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>How picks are spread over zones for one set of available hosts and one local distribution.</summary>
public enum ZoneRoutingState
{
    /// <summary>No zone routing: the inner policy picks among all available hosts.</summary>
    AllZones,

    /// <summary>The local zone has at least its share of upstream hosts: every pick stays in it.</summary>
    Direct,

    /// <summary>A fraction of picks stays local; the rest go to other zones by their residual capacity.</summary>
    Residual,
}

/// <summary>Why zone routing is off (<see cref="ZoneRoutingState.AllZones"/>).</summary>
public enum AllZonesReason
{
    None,

    /// <summary>The cluster is in panic mode (counted as <c>lb_healthy_panic</c> elsewhere).</summary>
    Panic,

    /// <summary>The local distribution is unknown, or has no host in this sidecar's zone.</summary>
    LocalClusterNotOk,

    /// <summary>Fewer available upstream hosts than <c>min_cluster_size</c>.</summary>
    ClusterTooSmall,
}

/// <summary>The hosts of one zone (or all hosts), with what picking among them needs.</summary>
public sealed class ZoneBucket(string zone, DestinationState[] hosts)
{
    public string Zone { get; } = zone;

    public DestinationState[] Hosts { get; } = hosts;

    /// <summary><c>proxymesh_lb_zone_requests_total</c> for this zone, attached by the policy.</summary>
    internal Counter.Child? Requests { get; set; }

    /// <summary>The in-zone pick (a weighted policy over <see cref="Hosts"/>), attached by the policy.</summary>
    internal InnerPicker? Picker { get; set; }
}

/// <summary>
/// Envoy's zone-aware routing computed once per change of the available hosts or of the local distribution.
/// Shares are in units of 1/10,000 with Envoy's integer arithmetic: <c>upstream_share = 10000 * hosts_in_zone / hosts</c>.
/// </summary>
public sealed class ZoneRoutingTable
{
    /// <summary>10,000 = 100%.</summary>
    public const int Scale = 10_000;

    private ZoneRoutingTable(ZoneBucket all, ZoneBucket[] bucketOfHost, ZoneBucket[] zones)
    {
        All = all;
        BucketOfHost = bucketOfHost;
        Zones = zones;
    }

    public ZoneRoutingState State { get; private set; }

    public AllZonesReason Reason { get; private set; }

    /// <summary>All available hosts (picked from when zone routing is off).</summary>
    public ZoneBucket All { get; }

    /// <summary>For each host in <see cref="All"/>, the bucket of its zone.</summary>
    public ZoneBucket[] BucketOfHost { get; }

    /// <summary>One bucket per upstream zone.</summary>
    public ZoneBucket[] Zones { get; }

    /// <summary>The local zone's hosts; null when it has no available host.</summary>
    public ZoneBucket? Local { get; private set; }

    /// <summary>In <see cref="ZoneRoutingState.Residual"/>: picks (of <see cref="Scale"/>) that stay local.</summary>
    public int LocalPercentToRoute { get; private set; }

    /// <summary>Other zones with residual capacity, and the running sums of their capacities (same order).</summary>
    public ZoneBucket[] CrossZones { get; private set; } = [];

    public long[] CumulativeResidual { get; private set; } = [];

    public long TotalResidual => CumulativeResidual.Length == 0 ? 0 : CumulativeResidual[^1];

    public static string ZoneOf(DestinationState destination) =>
        destination.Model?.Config.Metadata?.GetValueOrDefault(DiscoveryMetadata.Zone) ?? "";

    public static ZoneRoutingTable Build(IReadOnlyList<DestinationState> available, string localZone, LocalZones? local, int minClusterSize, bool panic)
    {
        var hosts = new DestinationState[available.Count];
        var byZone = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < hosts.Length; i++)
        {
            hosts[i] = available[i];
            var zone = ZoneOf(hosts[i]);
            if (!byZone.TryGetValue(zone, out var indexes))
            {
                byZone[zone] = indexes = [];
            }

            indexes.Add(i);
        }

        var bucketOfHost = new ZoneBucket[hosts.Length];
        var zones = new ZoneBucket[byZone.Count];
        var z = 0;
        foreach (var (zone, indexes) in byZone)
        {
            var bucket = new ZoneBucket(zone, indexes.Select(index => hosts[index]).ToArray());
            foreach (var index in indexes)
            {
                bucketOfHost[index] = bucket;
            }

            zones[z++] = bucket;
        }

        var table = new ZoneRoutingTable(new ZoneBucket("", hosts), bucketOfHost, zones);
        table.Compute(localZone, local, minClusterSize, panic);
        return table;
    }

    private void Compute(string localZone, LocalZones? local, int minClusterSize, bool panic)
    {
        State = ZoneRoutingState.AllZones;
        if (panic)
        {
            Reason = AllZonesReason.Panic;
            return;
        }

        if (local is null || local.Total == 0 || local.HostsByZone.GetValueOrDefault(localZone) == 0)
        {
            Reason = AllZonesReason.LocalClusterNotOk;
            return;
        }

        if (All.Hosts.Length < minClusterSize)
        {
            Reason = AllZonesReason.ClusterTooSmall;
            return;
        }

        var upstreamTotal = All.Hosts.Length;
        Local = Array.Find(Zones, bucket => bucket.Zone == localZone);
        var upstreamLocal = UpstreamShare(Local, upstreamTotal);
        var localLocal = LocalShare(local, localZone);
        if (upstreamLocal >= localLocal)
        {
            State = ZoneRoutingState.Direct;
            return;
        }

        State = ZoneRoutingState.Residual;
        LocalPercentToRoute = (int)(upstreamLocal * Scale / localLocal);
        var cross = new List<ZoneBucket>();
        var cumulative = new List<long>();
        long sum = 0;
        foreach (var bucket in Zones)
        {
            var residual = bucket == Local ? 0 : UpstreamShare(bucket, upstreamTotal) - LocalShare(local, bucket.Zone);
            if (residual > 0)
            {
                sum += residual;
                cross.Add(bucket);
                cumulative.Add(sum);
            }
        }

        if (sum == 0 && Local is null)
        {
            // Rounding left no capacity anywhere and nothing local: use every host.
            State = ZoneRoutingState.AllZones;
            return;
        }

        CrossZones = [.. cross];
        CumulativeResidual = [.. cumulative];
    }

    private static long UpstreamShare(ZoneBucket? bucket, int total) => bucket is null ? 0 : (long)Scale * bucket.Hosts.Length / total;

    private static long LocalShare(LocalZones local, string zone) => (long)Scale * local.HostsByZone.GetValueOrDefault(zone) / local.Total;
}
