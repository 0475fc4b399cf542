using ProxyMesh.Proxy.Observability;
using System.Collections.Concurrent;
using Prometheus;
using Yarp.ReverseProxy;

namespace ProxyMesh.Proxy.Resilience.CircuitBreakers;

/// <summary>
/// Envoy's circuit breakers, one set per cluster, shared by every listener, connection and thread of this proxy.
/// Each resource is an <see cref="Interlocked"/> counter checked against the cluster's current
/// <see cref="CircuitBreakerOptions"/> (read through <see cref="ClusterPolicies"/>, so a reload applies at once):
/// <list type="bullet">
/// <item><c>rq</c> — requests admitted to the cluster and not yet finished (max_requests);</item>
/// <item><c>cx</c> — upstream connections open (max_connections);</item>
/// <item><c>rq_pending</c> — requests waiting for an upstream connection because the cluster is at max_connections
/// (max_pending_requests; a bounded wait queue in front of the connection limit);</item>
/// <item><c>rq_retry</c> — retries in flight (max_retries), taken by the retry middleware through
/// <see cref="TryStartRetry"/> and <see cref="EndRetry"/>.</item>
/// </list>
/// </summary>
public sealed class ClusterCircuitBreakers
{
    private static readonly TimeSpan LimitRecheck = TimeSpan.FromMilliseconds(250);

    private readonly ClusterPolicies _policies;
    private readonly Counter _pendingOverflow;
    private readonly Counter _connectionOverflow;
    private readonly Counter _retryOverflow;
    private readonly Gauge _open;
    private readonly Gauge _remaining;
    private readonly Gauge _pendingActive;
    private readonly ConcurrentDictionary<string, Breaker> _clusters = new(StringComparer.Ordinal);

    /// <param name="services">Resolves YARP's <see cref="IProxyStateLookup"/> at scrape time: YARP's configuration manager
    /// needs the upstream client factory, which needs these breakers.</param>
    public ClusterCircuitBreakers(ClusterPolicies policies, CollectorRegistry registry, IServiceProvider services)
    {
        _policies = policies;
        var factory = StatsFactory.For(registry);
        _pendingOverflow = factory.CreateCounter(
            "proxymesh_upstream_rq_pending_overflow_total", "Requests refused by the max_requests or max_pending_requests circuit breaker.", "cluster");
        _connectionOverflow = factory.CreateCounter(
            "proxymesh_upstream_cx_overflow_total", "Times the max_connections circuit breaker held back a new upstream connection.", "cluster");
        _retryOverflow = factory.CreateCounter(
            "proxymesh_upstream_rq_retry_overflow_total", "Retries not attempted because of the max_retries circuit breaker.", "cluster");
        _open = factory.CreateGauge(
            "proxymesh_circuit_breakers_open", "1 when the circuit breaker of a resource (cx, rq, rq_pending, rq_retry) is at its limit.", "cluster", "resource");
        _remaining = factory.CreateGauge(
            "proxymesh_circuit_breakers_remaining", "Room left under the circuit breaker of a resource (cx, rq, rq_pending, rq_retry).", "cluster", "resource");
        _pendingActive = factory.CreateGauge(
            "proxymesh_upstream_rq_pending_active", "Requests waiting for an upstream connection (the cluster is at max_connections).", "cluster");
        registry.AddBeforeCollectCallback(() =>
        {
            foreach (var cluster in services.GetRequiredService<IProxyStateLookup>().GetClusters())
            {
                For(cluster.ClusterId).Publish(Limits(cluster.ClusterId));
            }
        });
    }

    /// <summary>
    /// The cluster's breakers under <paramref name="limits"/> (its <c>CircuitBreakers</c> policy of one configuration
    /// version), for a cluster context to keep: the counters are the cluster's, shared by every version.
    /// </summary>
    public ClusterCircuitBreaker For(string clusterId, CircuitBreakerOptions limits) => new(For(clusterId), limits);

    /// <summary>
    /// Takes a retry slot of the cluster: <c>false</c> (and <c>upstream_rq_retry_overflow</c> counted) when
    /// <c>MaxRetries</c> retries are already in flight — then do not retry. Every <c>true</c> must be paired with one
    /// <see cref="EndRetry"/> when that retry attempt finishes, however it ends.
    /// </summary>
    public bool TryStartRetry(string clusterId) => TryStartRetry(For(clusterId), Limits(clusterId));

    /// <summary>Gives back a retry slot taken by <see cref="TryStartRetry(string)"/>.</summary>
    public void EndRetry(string clusterId) => Interlocked.Decrement(ref For(clusterId).Retries);

    /// <summary>
    /// Takes a connection slot before an upstream connection is opened. At max_connections it counts
    /// <c>upstream_cx_overflow</c> and waits as a pending request for a slot to free (bounded by max_pending_requests;
    /// beyond it <c>upstream_rq_pending_overflow</c> and <see cref="CircuitBreakerOverflowException"/>).
    /// </summary>
    /// <returns>The slot, given back when disposed (when the connection closes).</returns>
    internal ValueTask<IDisposable> AcquireConnectionAsync(string clusterId, CancellationToken cancellationToken) =>
        AcquireConnectionAsync(For(clusterId), _policies, cancellationToken);

    internal static bool TryStartRetry(Breaker breaker, CircuitBreakerOptions limits)
    {
        if (TryTake(ref breaker.Retries, limits.MaxRetries))
        {
            return true;
        }

        breaker.RetryOverflow.Inc();
        return false;
    }

    /// <summary>Admits a request to the cluster under max_requests; pair a <c>true</c> with <see cref="EndRequest"/>.</summary>
    internal static bool TryStartRequest(Breaker breaker, CircuitBreakerOptions limits)
    {
        if (TryTake(ref breaker.Requests, limits.MaxRequests))
        {
            return true;
        }

        breaker.PendingOverflow.Inc();
        return false;
    }

    internal static void EndRequest(Breaker breaker) => Interlocked.Decrement(ref breaker.Requests);

    /// <summary>A connection slot if one is free now (Envoy's TCP proxy does not queue); null counts <c>upstream_cx_overflow</c>.</summary>
    internal static IDisposable? TryTakeConnection(Breaker breaker, CircuitBreakerOptions limits)
    {
        if (TryTake(ref breaker.Connections, limits.MaxConnections))
        {
            return new ConnectionSlot(breaker);
        }

        breaker.ConnectionOverflow.Inc();
        return null;
    }

    /// <param name="policies">Limits are read again while waiting, so a reload that raises them frees waiters.</param>
    internal static async ValueTask<IDisposable> AcquireConnectionAsync(Breaker breaker, ClusterPolicies policies, CancellationToken cancellationToken)
    {
        var clusterId = breaker.ClusterId;
        if (TryTake(ref breaker.Connections, Limits(policies, clusterId).MaxConnections))
        {
            return new ConnectionSlot(breaker);
        }

        breaker.ConnectionOverflow.Inc();
        if (!TryTake(ref breaker.Pending, Limits(policies, clusterId).MaxPendingRequests))
        {
            breaker.PendingOverflow.Inc();
            throw new CircuitBreakerOverflowException(clusterId, "max_pending_requests");
        }

        try
        {
            while (!TryTake(ref breaker.Connections, Limits(policies, clusterId).MaxConnections))
            {
                // Woken when a connection closes; the timeout re-reads a limit a reload may have raised.
                await breaker.ConnectionClosed.WaitAsync(LimitRecheck, cancellationToken);
            }
        }
        finally
        {
            Interlocked.Decrement(ref breaker.Pending);
        }

        return new ConnectionSlot(breaker);
    }

    internal Breaker For(string clusterId) =>
        _clusters.GetOrAdd(clusterId, static (id, self) => new Breaker(self, id), this);

    private CircuitBreakerOptions Limits(string clusterId) => Limits(_policies, clusterId);

    private static CircuitBreakerOptions Limits(ClusterPolicies policies, string clusterId) =>
        policies.For<CircuitBreakerOptions>(clusterId, CircuitBreakerOptions.PolicyName);

    /// <summary>Increments <paramref name="counter"/> unless it has reached <paramref name="limit"/>; exact under contention.</summary>
    private static bool TryTake(ref int counter, int limit)
    {
        var current = Volatile.Read(ref counter);
        while (current < limit)
        {
            var seen = Interlocked.CompareExchange(ref counter, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    /// <summary>The counters and series of one cluster.</summary>
    internal sealed class Breaker
    {
        public int Requests;
        public int Pending;
        public int Connections;
        public int Retries;

        private readonly Gauge.Child[] _open;
        private readonly Gauge.Child[] _remaining;
        private readonly Gauge.Child _pendingActive;

        public Breaker(ClusterCircuitBreakers owner, string clusterId)
        {
            ClusterId = clusterId;
            PendingOverflow = owner._pendingOverflow.WithLabels(clusterId);
            ConnectionOverflow = owner._connectionOverflow.WithLabels(clusterId);
            RetryOverflow = owner._retryOverflow.WithLabels(clusterId);
            string[] resources = ["cx", "rq", "rq_pending", "rq_retry"];
            _open = Array.ConvertAll(resources, resource => owner._open.WithLabels(clusterId, resource));
            _remaining = Array.ConvertAll(resources, resource => owner._remaining.WithLabels(clusterId, resource));
            _pendingActive = owner._pendingActive.WithLabels(clusterId);
        }

        public string ClusterId { get; }

        public Counter.Child PendingOverflow { get; }

        public Counter.Child ConnectionOverflow { get; }

        public Counter.Child RetryOverflow { get; }

        public SemaphoreSlim ConnectionClosed { get; } = new(0);

        public void Publish(CircuitBreakerOptions limits)
        {
            Set(0, Volatile.Read(ref Connections), limits.MaxConnections);
            Set(1, Volatile.Read(ref Requests), limits.MaxRequests);
            var pending = Volatile.Read(ref Pending);
            Set(2, pending, limits.MaxPendingRequests);
            _pendingActive.Set(pending);
            Set(3, Volatile.Read(ref Retries), limits.MaxRetries);
        }

        private void Set(int resource, int used, int limit)
        {
            _open[resource].Set(used >= limit ? 1 : 0);
            _remaining[resource].Set(Math.Max(0, limit - used));
        }
    }

    private sealed class ConnectionSlot(Breaker breaker) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref breaker.Connections);
                if (Volatile.Read(ref breaker.Pending) > 0)
                {
                    breaker.ConnectionClosed.Release();
                }
            }
        }
    }
}
