using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Clusters;

/// <summary>
/// Counts the YARP configurations applied (new clusters, routes or destinations, including discovery updates): a
/// cluster context resolved under an older count is rebuilt on its next use. Nothing else, so YARP's configuration
/// manager can depend on it without depending on what contexts hold.
/// </summary>
public sealed class ClusterConfigGeneration : IConfigChangeListener
{
    private volatile int _value;

    public int Value => _value;

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs) => Interlocked.Increment(ref _value);

    public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception)
    {
    }

    public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception)
    {
    }
}
