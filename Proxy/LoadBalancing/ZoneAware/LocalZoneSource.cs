using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Discovery;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>
/// The local distribution from <c>ProxyMesh:LocalCluster</c> when it is set (the zones of that cluster's destinations,
/// recounted when its destinations change), otherwise from discovery of <c>ProxyMesh:ServiceName</c>.
/// The proxy state is resolved on first use: YARP's own services depend on the load-balancing policies.
/// </summary>
internal sealed class LocalZoneSource(IOptionsMonitor<LocalZoneOptions> options, IServiceProvider services, DiscoveredLocalZones discovered)
    : ILocalZoneSource
{
    private IProxyStateLookup? _proxyState;
    private (IReadOnlyList<DestinationState> Destinations, LocalZones Zones)? _fromCluster;

    public LocalZones? Current
    {
        get
        {
            var localCluster = options.CurrentValue.LocalCluster;
            if (string.IsNullOrEmpty(localCluster))
            {
                return discovered.Current;
            }

            var proxyState = _proxyState ??= services.GetRequiredService<IProxyStateLookup>();
            if (!proxyState.TryGetCluster(localCluster, out var cluster))
            {
                return null;
            }

            var destinations = cluster.DestinationsState.AllDestinations;
            var cached = _fromCluster;
            if (cached is { } known && ReferenceEquals(known.Destinations, destinations))
            {
                return known.Zones;
            }

            var zones = new string?[destinations.Count];
            for (var i = 0; i < zones.Length; i++)
            {
                zones[i] = destinations[i].Model.Config.Metadata?.GetValueOrDefault(DiscoveryMetadata.Zone);
            }

            var counted = LocalZones.Count(zones);
            _fromCluster = (destinations, counted);
            return counted;
        }
    }
}
