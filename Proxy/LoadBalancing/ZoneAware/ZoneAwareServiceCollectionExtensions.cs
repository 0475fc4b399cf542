using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using Yarp.ReverseProxy.LoadBalancing;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

public static class ZoneAwareServiceCollectionExtensions
{
    /// <summary>
    /// The <c>ZoneAware</c> load-balancing policy and its local zone distribution (discovery of <c>ProxyMesh:ServiceName</c>
    /// or <c>ProxyMesh:LocalCluster</c>).
    /// </summary>
    public static IServiceCollection AddProxyMeshZoneAwareRouting(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddOptions<LocalZoneOptions>().Bind(validatedConfiguration.GetSection(LocalZoneOptions.SectionName));
        services.AddSingleton<IConfigurationValidator, ZoneAwareConfigValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(Random.Shared);
        services.TryAddSingleton<ClusterTraffic>();
        services.AddSingleton<ZoneAwareStats>();
        services.AddSingleton<DiscoveredLocalZones>();
        services.AddHostedService(provider => provider.GetRequiredService<DiscoveredLocalZones>());
        services.AddSingleton<ILocalZoneSource, LocalZoneSource>();
        services.AddSingleton<ILoadBalancingPolicy, ZoneAwareLoadBalancingPolicy>();
        return services;
    }
}
