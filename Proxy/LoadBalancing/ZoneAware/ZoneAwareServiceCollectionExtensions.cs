using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

public static class ZoneAwareServiceCollectionExtensions
{
    /// <summary>
    /// The <c>ZoneAware</c> load-balancing policy, its local zone distribution (discovery of <c>ProxyMesh:ServiceName</c>
    /// or <c>ProxyMesh:LocalCluster</c>), and the count of requests that found no available host.
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
        services.AddSingleton<IStartupFilter, NoneHealthyCounting>();
        return services;
    }

    /// <summary>
    /// YARP answers 503 itself when a cluster has no available host (it never calls the load-balancing policy then):
    /// counts <c>upstream_cx_none_healthy</c> as the request unwinds, for every cluster.
    /// </summary>
    private sealed class NoneHealthyCounting(ZoneAwareStats stats) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, inner) =>
            {
                await inner(context);
                if (context.Features.Get<IForwarderErrorFeature>()?.Error == ForwarderError.NoAvailableDestinations
                    && context.Features.Get<Yarp.ReverseProxy.Model.IReverseProxyFeature>() is { } proxy)
                {
                    stats.For(proxy.Cluster.Config.ClusterId).NoneHealthy.Inc();
                }
            });
            next(app);
        };
    }
}
