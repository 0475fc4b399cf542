using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.LoadBalancing;

namespace ProxyMesh.Proxy.LoadBalancing;

public static class LoadBalancingServiceCollectionExtensions
{
    /// <summary>
    /// ProxyMesh's load-balancing policies, selected per cluster by <c>LoadBalancingPolicy</c>:
    /// <c>ProxyMesh.RoundRobin</c>, <c>ProxyMesh.Random</c>, <c>ProxyMesh.LeastRequest</c> and <c>ProxyMesh.RingHash</c>.
    /// Randomness comes from the <see cref="Random"/> service (<see cref="Random.Shared"/> unless replaced).
    /// </summary>
    public static IServiceCollection AddProxyMeshLoadBalancing(this IServiceCollection services)
    {
        services.TryAddSingleton(Random.Shared);
        services.AddSingleton<ILoadBalancingPolicy, RoundRobinPolicy>();
        services.AddSingleton<ILoadBalancingPolicy, RandomPolicy>();
        services.AddSingleton<ILoadBalancingPolicy, LeastRequestPolicy>();
        services.AddSingleton<ILoadBalancingPolicy, RingHashPolicy>();
        return services;
    }
}
