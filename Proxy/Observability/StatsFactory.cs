using System.Runtime.CompilerServices;
using Prometheus;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Where every ProxyMesh stat is created. prometheus-net 8 records an exemplar from <c>Activity.Current</c> on every
/// <c>Inc</c>/<c>Observe</c> by default, and ASP.NET Core starts an Activity per request even with tracing off: a
/// registry records exemplars only when it was created with tracing on (<see cref="EnableExemplars"/>).
/// </summary>
public static class StatsFactory
{
    private static readonly ConditionalWeakTable<CollectorRegistry, object> WithExemplars = [];

    /// <summary>Stats of <paramref name="registry"/> carry the current trace as their exemplar.</summary>
    public static void EnableExemplars(CollectorRegistry registry) => WithExemplars.AddOrUpdate(registry, registry);

    /// <summary>A factory for stats in <paramref name="registry"/>: without exemplars unless they were enabled for it.</summary>
    public static MetricFactory For(CollectorRegistry registry)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        if (!WithExemplars.TryGetValue(registry, out _))
        {
            factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        }

        return factory;
    }
}
