using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Resilience.Retries;
using ProxyMesh.Proxy.Resilience.Timeouts;
using ProxyMesh.Proxy.Resilience.Upstream;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
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
        services.AddSingleton<RetryStats>();
        services.AddSingleton<RetryPipelines>();
        services.AddSingleton<ITransformProvider, AttemptTransformProvider>();
        services.AddSingleton<UpstreamProtocolErrors>();
        services.AddSingleton<UpstreamFailureLog>();
        services.AddSingleton<IForwarderHttpClientFactory, UpstreamConnectionFactory>();
        services.AddSingleton<ITransformProvider, UpstreamTrailerGuard>();
        services.AddSingleton<IProxyConfigFilter, StreamIdleConfigFilter>();
        services.AddProxyMeshOutlierDetection();
        services.AddProxyMeshHealthChecks();
        return services;
    }

    /// <summary>
    /// Envoy's router in the proxy pipeline, before load balancing: route, per-try and gRPC deadlines, retries to other
    /// hosts, and the one outcome of each attempt, reported to outlier detection and upstream stats.
    /// </summary>
    public static IReverseProxyApplicationBuilder UseRouter(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<UpstreamRouterMiddleware>();
        return proxy;
    }
}
