using ProxyMesh.Proxy.Observability;
using System.Collections.Concurrent;
using Prometheus;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// Per cluster: active health checks made, passed and failed (Envoy's <c>health_check.attempt</c>, <c>success</c>,
/// <c>failure</c>), and load-balancing picks made in panic mode (<c>lb_healthy_panic</c>).
/// </summary>
public sealed class HealthCheckStats
{
    private readonly Counter _attempts;
    private readonly Counter _successes;
    private readonly Counter _failures;
    private readonly Counter _panics;
    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

    public HealthCheckStats(CollectorRegistry registry)
    {
        var factory = StatsFactory.For(registry);
        _attempts = factory.CreateCounter("proxymesh_health_check_attempt_total", "Active health checks made.", "cluster");
        _successes = factory.CreateCounter("proxymesh_health_check_success_total", "Active health checks that passed.", "cluster");
        _failures = factory.CreateCounter("proxymesh_health_check_failure_total", "Active health checks that failed (the host said it is unhealthy, or could not be reached in time).", "cluster");
        _panics = factory.CreateCounter("proxymesh_lb_healthy_panic_total", "Load-balancing picks made in panic mode: fewer hosts than the panic threshold were healthy, so all were used.", "cluster");
    }

    /// <summary>The health check series of a cluster that is health-checked (Envoy has them only for such clusters).</summary>
    public Series For(string cluster) => _series.GetOrAdd(cluster, static (name, stats) => new Series(stats, name), this);

    /// <summary><c>lb_healthy_panic</c> of any cluster, for its cluster context to keep.</summary>
    public Counter.Child Panics(string cluster) => _panics.WithLabels(cluster);

    /// <summary>The series of one cluster.</summary>
    public sealed class Series
    {
        internal Series(HealthCheckStats stats, string cluster)
        {
            Attempts = stats._attempts.WithLabels(cluster);
            Successes = stats._successes.WithLabels(cluster);
            Failures = stats._failures.WithLabels(cluster);
        }

        public Counter.Child Attempts { get; }

        public Counter.Child Successes { get; }

        public Counter.Child Failures { get; }
    }
}
