using Microsoft.Extensions.DependencyInjection.Extensions;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Tcp;

namespace ProxyMesh.Proxy.Mongo;

public static class MongoServiceCollectionExtensions
{
    /// <summary>The <c>Mongo</c> TCP network filter (a listener lists it in <c>Filters</c>) and its stats.</summary>
    public static IServiceCollection AddProxyMeshMongo(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(Random.Shared);
        services.AddSingleton(provider => new MongoStats(
            provider.GetRequiredService<CollectorRegistry>(), provider.GetRequiredService<ValidatedConfiguration>().View));
        services.AddSingleton<ITcpFilterFactory, MongoFilterFactory>();
        services.AddHostedService<MongoStatsActivation>();
        return services;
    }

    /// <summary>Creates the stats at start-up, so every Mongo listener's series are exported from the first scrape.</summary>
    private sealed class MongoStatsActivation(MongoStats stats) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            stats.ExportConfiguredListeners();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
