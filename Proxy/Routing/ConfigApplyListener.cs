using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Routing;

/// <summary>
/// Counts the rare update that passed validation but YARP still refused to apply (YARP logs it and keeps the old
/// routes and clusters).
/// </summary>
internal sealed class ConfigApplyListener(ConfigUpdateStats stats) : IConfigChangeListener
{
    public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception) =>
        stats.RecordRejection([$"{ReverseProxyConfigValidator.SectionName}: {exception.Message}"]);

    public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception) =>
        stats.RecordRejection([$"{ReverseProxyConfigValidator.SectionName}: {exception.Message}"]);

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }
}
