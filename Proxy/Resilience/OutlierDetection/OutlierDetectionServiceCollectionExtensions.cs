using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

public static class OutlierDetectionServiceCollectionExtensions
{
    /// <summary>Envoy-style outlier detection on every cluster (policy <c>OutlierDetection</c>).</summary>
    public static IServiceCollection AddProxyMeshOutlierDetection(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(Random.Shared);
        services.AddSingleton<IConfigurationValidator, OutlierDetectionConfigValidator>();
        services.AddSingleton<OutlierDetectionStats>();
        services.AddSingleton<OutlierDetector>();
        services.AddSingleton<IPassiveHealthCheckPolicy, OutlierEjectionHealthPolicy>();
        services.AddSingleton<IProxyConfigFilter, OutlierDetectionConfigFilter>();
        return services;
    }

    /// <summary>
    /// The proxy pipeline's last step before forwarding: YARP's passive health checks for the clusters that configure
    /// them, nothing for those on outlier detection alone (<see cref="PassiveHealthStep"/>).
    /// </summary>
    public static IReverseProxyApplicationBuilder UsePassiveHealth(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<PassiveHealthStep>();
        return proxy;
    }
}
