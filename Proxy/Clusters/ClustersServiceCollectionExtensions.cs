using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Clusters;

public static class ClustersServiceCollectionExtensions
{
    /// <summary>
    /// Cluster contexts: per cluster and configuration version, the policies, breakers, picker, outlier detector,
    /// health view, rate limiter and stats handles any listener uses (<see cref="ClusterContexts"/>).
    /// </summary>
    public static IServiceCollection AddProxyMeshClusterContexts(this IServiceCollection services)
    {
        services.AddSingleton<ClusterConfigGeneration>();
        services.AddSingleton<IConfigChangeListener>(provider => provider.GetRequiredService<ClusterConfigGeneration>());
        services.AddSingleton<ClusterContexts>();
        return services;
    }

    /// <summary>The proxy pipeline's first step: resolves the request's cluster context once.</summary>
    public static IReverseProxyApplicationBuilder UseClusterContext(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<ClusterContextMiddleware>();
        return proxy;
    }
}
