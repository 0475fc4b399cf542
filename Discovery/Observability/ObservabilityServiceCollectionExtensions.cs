using Prometheus;
using ProxyMesh.Discovery.Caching;

namespace ProxyMesh.Discovery.Observability;

public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>A metrics registry per instance, so that several discovery services in one process keep separate stats.</summary>
    public static IServiceCollection AddDiscoveryObservability(this IServiceCollection services)
    {
        services.AddSingleton(_ => Metrics.NewCustomRegistry());
        services.AddSingleton<DiscoveryMetrics>();
        return services;
    }

    /// <summary><c>GET /metrics</c> in Prometheus text format; the hosts gauge is taken from the views at each scrape.</summary>
    public static IEndpointRouteBuilder MapDiscoveryMetrics(this IEndpointRouteBuilder endpoints)
    {
        var registry = endpoints.ServiceProvider.GetRequiredService<CollectorRegistry>();
        var metrics = endpoints.ServiceProvider.GetRequiredService<DiscoveryMetrics>();
        var cache = endpoints.ServiceProvider.GetRequiredService<ServiceViewCache>();
        registry.AddBeforeCollectCallback(() => metrics.SetHostCounts(cache.LiveHostCounts()));
        endpoints.MapMetrics("/metrics", registry);
        return endpoints;
    }
}
