using System.Collections.Concurrent;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>
/// The destinations of every discovery cluster. It is also a YARP config provider with no routes or clusters of its
/// own: its change token is how a discovery update makes YARP re-apply its configuration, during which
/// <see cref="DiscoveryConfigFilter"/> fills the discovery clusters from here.
/// </summary>
public sealed class DiscoveredDestinations : IProxyConfigProvider, IDisposable
{
    private static readonly IReadOnlyDictionary<string, DestinationConfig> None = new Dictionary<string, DestinationConfig>();

    private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, DestinationConfig>> _byCluster = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _signalLock = new();
    private CancellationTokenSource _changed = new();

    public IReadOnlyDictionary<string, DestinationConfig> For(string clusterId) => _byCluster.GetValueOrDefault(clusterId, None);

    public void Set(string clusterId, IReadOnlyDictionary<string, DestinationConfig> destinations)
    {
        _byCluster[clusterId] = destinations;
        Signal();
    }

    public void Remove(string clusterId)
    {
        if (_byCluster.TryRemove(clusterId, out _))
        {
            Signal();
        }
    }

    public IProxyConfig GetConfig()
    {
        lock (_signalLock)
        {
            return new SignalOnlyConfig(new CancellationChangeToken(_changed.Token));
        }
    }

    private void Signal()
    {
        CancellationTokenSource previous;
        lock (_signalLock)
        {
            previous = _changed;
            _changed = new CancellationTokenSource();
        }

        previous.Cancel();
        previous.Dispose();
    }

    public void Dispose()
    {
        lock (_signalLock)
        {
            _changed.Dispose();
        }
    }

    private sealed class SignalOnlyConfig(IChangeToken changeToken) : IProxyConfig
    {
        public IReadOnlyList<RouteConfig> Routes { get; } = [];

        public IReadOnlyList<ClusterConfig> Clusters { get; } = [];

        public IChangeToken ChangeToken { get; } = changeToken;
    }
}
