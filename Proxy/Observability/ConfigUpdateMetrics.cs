using Prometheus;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Observability;

/// <summary>Exports <see cref="ConfigUpdateStats"/> (Envoy: <c>update_attempt</c>, <c>update_success</c>, <c>update_rejected</c>).</summary>
internal sealed class ConfigUpdateMetrics
{
    public ConfigUpdateMetrics(CollectorRegistry registry, ConfigUpdateStats stats)
    {
        var factory = StatsFactory.For(registry);
        var attempts = factory.CreateCounter("proxymesh_config_update_attempt_total", "Configuration reloads seen after start-up.");
        var successes = factory.CreateCounter("proxymesh_config_update_success_total", "Configuration reloads applied.");
        var rejections = factory.CreateCounter("proxymesh_config_update_rejected_total", "Configuration reloads rejected; the last good configuration kept serving.");
        registry.AddBeforeCollectCallback(() =>
        {
            attempts.IncTo(stats.Attempts);
            successes.IncTo(stats.Successes);
            rejections.IncTo(stats.Rejections);
        });
    }
}
