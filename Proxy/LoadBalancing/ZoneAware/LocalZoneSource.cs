using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Discovery;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>
/// The local distribution from <c>ProxyMesh:LocalCluster</c> when it is set (the zones of that cluster's destinations,
/// recounted when its destinations change), otherwise from the discovery client's view of this sidecar's own service
/// (<see cref="DiscoveredLocalService"/>, polled with the clusters — no polling loop of its own). A recount that finds
/// the same zones keeps the previous instance, so routing tables are not rebuilt for it.
/// The proxy state is resolved on first use: YARP's own services depend on the load-balancing policies.
/// </summary>
internal sealed class LocalZoneSource(IOptionsMonitor<LocalZoneOptions> options, IServiceProvider services, DiscoveredLocalService discovered)
    : ILocalZoneSource
{
    private IProxyStateLookup? _proxyState;
    private volatile Counted? _fromCluster;
    private volatile Counted? _fromDiscovery;

    public LocalZones? Current
    {
        get
        {
            var localCluster = options.CurrentValue.LocalCluster;
            if (string.IsNullOrEmpty(localCluster))
            {
                return FromDiscovery();
            }

            var proxyState = _proxyState ??= services.GetRequiredService<IProxyStateLookup>();
            if (!proxyState.TryGetCluster(localCluster, out var cluster))
            {
                return null;
            }

            var destinations = cluster.DestinationsState.AllDestinations;
            if (_fromCluster is { } known && ReferenceEquals(known.Source, destinations))
            {
                return known.Zones;
            }

            var zones = new string?[destinations.Count];
            for (var i = 0; i < zones.Length; i++)
            {
                zones[i] = destinations[i].Model.Config.Metadata?.GetValueOrDefault(DiscoveryMetadata.Zone);
            }

            return (_fromCluster = Recount(_fromCluster, destinations, zones)).Zones;
        }
    }

    private LocalZones? FromDiscovery()
    {
        var hosts = discovered.Hosts;
        if (hosts is null)
        {
            return null;
        }

        if (_fromDiscovery is { } known && ReferenceEquals(known.Source, hosts))
        {
            return known.Zones;
        }

        var zones = new List<string?>(hosts.Count);
        foreach (var (_, host) in hosts)
        {
            zones.Add(host.Metadata?.GetValueOrDefault(DiscoveryMetadata.Zone));
        }

        return (_fromDiscovery = Recount(_fromDiscovery, hosts, zones)).Zones;
    }

    private static Counted Recount(Counted? previous, object source, IEnumerable<string?> zones)
    {
        var counted = LocalZones.Count(zones);
        return new Counted(source, counted.SameAs(previous?.Zones) ? previous!.Zones : counted);
    }

    private sealed record Counted(object Source, LocalZones Zones);
}

/// <summary>Asks discovery for the local service while a cluster is zone-aware and no static local cluster is set.</summary>
internal sealed class ZoneAwareLocalServiceDemand : ILocalServiceDemand
{
    public bool NeedsLocalService(IConfiguration configuration)
    {
        if (!string.IsNullOrEmpty(configuration[$"{LocalZoneOptions.SectionName}:{nameof(LocalZoneOptions.LocalCluster)}"]))
        {
            return false;
        }

        foreach (var cluster in configuration.GetSection("ReverseProxy:Clusters").GetChildren())
        {
            if (ZoneAwareLoadBalancingPolicy.IsNamed(cluster[nameof(ClusterConfig.LoadBalancingPolicy)]))
            {
                return true;
            }
        }

        return false;
    }
}
