using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

public static class HealthChecksServiceCollectionExtensions
{
    /// <summary>Active health checks (HTTP, TCP, gRPC) per the <c>HealthCheck</c> policy, and Envoy's panic threshold for every cluster.</summary>
    public static IServiceCollection AddProxyMeshHealthChecks(this IServiceCollection services)
    {
        services.AddSingleton<IConfigurationValidator, HealthCheckConfigValidator>();
        services.AddSingleton<IProxyConfigFilter, HealthCheckConfigFilter>();
        services.AddSingleton<IAvailableDestinationsPolicy, PanicThresholdDestinationsPolicy>();
        services.AddSingleton<ClusterTraffic>();
        services.AddSingleton<HealthCheckStats>();
        services.AddSingleton<HealthProbes>();
        services.AddSingleton<ProxyConfigApplied>();
        services.AddSingleton<IConfigChangeListener>(provider => provider.GetRequiredService<ProxyConfigApplied>());
        services.AddHostedService<ActiveHealthChecker>();
        return services;
    }

    /// <summary>Before load balancing: marks clusters as having traffic and counts picks made in panic mode.</summary>
    public static IReverseProxyApplicationBuilder UseHealthyPanic(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<HealthyPanicMiddleware>();
        return proxy;
    }
}
