using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Discovery;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using Yarp.ReverseProxy.LoadBalancing;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

public static class ZoneAwareServiceCollectionExtensions
{
    /// <summary>
    /// The <c>ProxyMesh.ZoneAware</c> load-balancing policy (also accepted under its first name, <c>ZoneAware</c>) and its
    /// local zone distribution (the discovery client's view of <c>ProxyMesh:ServiceName</c>, or <c>ProxyMesh:LocalCluster</c>).
    /// </summary>
    public static IServiceCollection AddProxyMeshZoneAwareRouting(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddOptions<LocalZoneOptions>().Bind(validatedConfiguration.GetSection(LocalZoneOptions.SectionName));
        services.AddSingleton<IConfigurationValidator, ZoneAwareConfigValidator>();
        services.TryAddSingleton(Random.Shared);
        services.TryAddSingleton<ClusterTraffic>();
        services.TryAddSingleton<DiscoveredLocalService>();
        services.AddSingleton<ILocalServiceDemand, ZoneAwareLocalServiceDemand>();
        services.AddSingleton<ZoneAwareStats>();
        services.AddSingleton<ILocalZoneSource, LocalZoneSource>();
        services.AddSingleton<ZoneAwareLoadBalancingPolicy>();
        services.AddSingleton<ILoadBalancingPolicy>(provider => provider.GetRequiredService<ZoneAwareLoadBalancingPolicy>());
        services.AddSingleton<ILoadBalancingPolicy>(provider => new PolicyAlias<ZoneAwareLoadBalancingPolicy>(
            ZoneAwareLoadBalancingPolicy.AliasName, provider.GetRequiredService<ZoneAwareLoadBalancingPolicy>()));
        return services;
    }
}
