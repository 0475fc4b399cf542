using Microsoft.Extensions.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>
/// The hosts of this sidecar's own service (<c>ProxyMesh:ServiceName</c>) as discovery last reported them — Envoy's
/// local cluster. <see cref="DiscoveryClient"/> polls it on the same schedule and with the same safety rules as the
/// discovery clusters (an empty or failed answer keeps the last hosts), but only while some capability asks for it
/// through an <see cref="ILocalServiceDemand"/>.
/// </summary>
public sealed class DiscoveredLocalService
{
    private volatile IReadOnlyDictionary<string, DestinationConfig>? _hosts;

    /// <summary>Null until discovery first answers with hosts; the same instance until they change.</summary>
    public IReadOnlyDictionary<string, DestinationConfig>? Hosts => _hosts;

    internal void Set(IReadOnlyDictionary<string, DestinationConfig> hosts) => _hosts = hosts;

    internal void Clear() => _hosts = null;
}

/// <summary>A capability that needs <see cref="DiscoveredLocalService"/> (e.g. zone-aware routing, for its local view).</summary>
public interface ILocalServiceDemand
{
    /// <summary>Whether <paramref name="configuration"/> (the whole validated configuration) needs the local service's hosts; asked on every reload.</summary>
    bool NeedsLocalService(IConfiguration configuration);
}
