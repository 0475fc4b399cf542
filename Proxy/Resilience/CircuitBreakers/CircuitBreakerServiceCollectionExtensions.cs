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
}
