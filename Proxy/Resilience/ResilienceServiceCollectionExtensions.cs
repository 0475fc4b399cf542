using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Resilience.Retries;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Resilience;

public static class ResilienceServiceCollectionExtensions
{
    /// <summary>
    /// Per-cluster resilience policies over mesh-wide defaults: rate limiting, circuit breakers, retries and timeouts,
    /// active health checks with the panic threshold, and outlier detection.
    /// </summary>
    public static IServiceCollection AddProxyMeshResilience(this IServiceCollection services)
    {
        services.AddSingleton<ClusterPolicies>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(Random.Shared);
        services.AddSingleton<IConfigurationValidator, ResilienceConfigValidator>();
        services.AddProxyMeshCircuitBreakers().AddProxyMeshRateLimiting();
        services.AddSingleton<IRetryBudget>(provider => provider.GetRequiredService<ClusterCircuitBreakers>());
        services.AddSingleton<RetryStats>();
        services.AddSingleton<RetryPipelines>();
        services.AddSingleton<ITransformProvider, RetryTransformProvider>();
        services.AddProxyMeshOutlierDetection();
        services.AddProxyMeshHealthChecks();
        return services;
    }

    /// <summary>Envoy's router in the proxy pipeline, before load balancing: route and per-try timeouts, retries to other hosts.</summary>
    public static IReverseProxyApplicationBuilder UseRouter(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<UpstreamRouterMiddleware>();
        return proxy;
    }
}
