using ProxyMesh.Proxy.Observability;
using System.Collections.Concurrent;
using Prometheus;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// Per cluster: retries made (Envoy's <c>upstream_rq_retry</c>), requests that succeeded after retrying
/// (<c>upstream_rq_retry_success</c>), retries not made for an unreplayable body (<c>retry_or_shadow_abandoned</c>;
/// those refused by the retry budget are counted by the circuit breakers), and the responses of attempts that were retried
/// (<c>retry.upstream_rq_&lt;class&gt;</c>), counted apart from final responses.
/// </summary>
public sealed class RetryStats
{
    private readonly Counter _retries;
    private readonly Counter _successes;
    private readonly Counter _abandoned;
    private readonly Counter _retriedResponses;
    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

    public RetryStats(CollectorRegistry registry)
    {
        var factory = StatsFactory.For(registry);
        _retries = factory.CreateCounter("proxymesh_upstream_rq_retry_total", "Upstream request retries made.", "cluster");
        _successes = factory.CreateCounter("proxymesh_upstream_rq_retry_success_total", "Requests that succeeded after one or more retries.", "cluster");
        _abandoned = factory.CreateCounter("proxymesh_upstream_rq_retry_or_shadow_abandoned_total", "Retries not made because the request body was too large to replay.", "cluster");
        _retriedResponses = factory.CreateCounter("proxymesh_retry_upstream_rq_total", "Responses of attempts that were retried, by response code class.", "cluster", "response_code_class");
    }

    public Series For(string cluster) => _series.GetOrAdd(cluster, static (name, stats) => new Series(stats, name), this);

    /// <summary>The series of one cluster.</summary>
    public sealed class Series
    {
        private readonly Counter.Child[] _retriedByClass = new Counter.Child[6];

        internal Series(RetryStats stats, string cluster)
        {
            Retries = stats._retries.WithLabels(cluster);
            Successes = stats._successes.WithLabels(cluster);
            Abandoned = stats._abandoned.WithLabels(cluster);
            for (var i = 1; i <= 5; i++)
            {
                _retriedByClass[i] = stats._retriedResponses.WithLabels(cluster, $"{i}xx");
            }
        }

        public Counter.Child Retries { get; }

        public Counter.Child Successes { get; }

        public Counter.Child Abandoned { get; }

        public Counter.Child RetriedResponse(int statusCode) => _retriedByClass[Observability.StatusClass.Index(statusCode)];
    }
}
