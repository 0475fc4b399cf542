namespace ProxyMesh.Proxy.Resilience;

public static class ResilienceServiceCollectionExtensions
{
    /// <summary>Per-cluster resilience policies over mesh-wide defaults.</summary>
    public static IServiceCollection AddProxyMeshResilience(this IServiceCollection services)
    {
        services.AddSingleton<ClusterPolicies>();
        services.AddProxyMeshCircuitBreakers().AddProxyMeshRateLimiting();
        return services;
    }
}
