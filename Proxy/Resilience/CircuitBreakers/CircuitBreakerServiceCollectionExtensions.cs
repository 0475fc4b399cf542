using ProxyMesh.Proxy.Configuration;

using ProxyMesh.Proxy.Resilience.CircuitBreakers;

namespace ProxyMesh.Proxy.Resilience;

public static class CircuitBreakerServiceCollectionExtensions
{
    /// <summary>Envoy's circuit breakers per cluster (<c>CircuitBreakers</c> policy), on by default at Envoy's thresholds.</summary>
    public static IServiceCollection AddProxyMeshCircuitBreakers(this IServiceCollection services)
    {
        services.AddSingleton<ClusterCircuitBreakers>();
        services.AddSingleton<IConfigurationValidator, CircuitBreakerConfigValidator>();
        return services;
    }

    /// <summary>Enforces max_requests (and answers connection overflows) for each proxied request.</summary>
    public static IReverseProxyApplicationBuilder UseCircuitBreakers(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<CircuitBreakerMiddleware>();
        return proxy;
    }
}
