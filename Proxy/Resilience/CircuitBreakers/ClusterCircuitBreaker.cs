namespace ProxyMesh.Proxy.Resilience.CircuitBreakers;

/// <summary>
/// One cluster's circuit breakers under the limits of one configuration version, as a cluster context holds them: the
/// counters are the cluster's (shared by every version, listener and thread), the limits this version's. Every
/// successful take must be paired with its release, however the work ends.
/// </summary>
public sealed class ClusterCircuitBreaker
{
    private readonly ClusterCircuitBreakers.Breaker _state;

    internal ClusterCircuitBreaker(ClusterCircuitBreakers.Breaker state, CircuitBreakerOptions limits)
    {
        _state = state;
        Limits = limits;
    }

    public CircuitBreakerOptions Limits { get; }

    /// <summary>Admits a request under max_requests; <c>false</c> counts <c>upstream_rq_pending_overflow</c>. Pair a <c>true</c> with <see cref="EndRequest"/>.</summary>
    public bool TryStartRequest() => ClusterCircuitBreakers.TryStartRequest(_state, Limits);

    public void EndRequest() => ClusterCircuitBreakers.EndRequest(_state);

    /// <summary>Takes a retry slot under max_retries; <c>false</c> counts <c>upstream_rq_retry_overflow</c>. Pair a <c>true</c> with <see cref="EndRetry"/>.</summary>
    public bool TryStartRetry() => ClusterCircuitBreakers.TryStartRetry(_state, Limits);

    public void EndRetry() => Interlocked.Decrement(ref _state.Retries);

    /// <summary>
    /// A max_connections slot if one is free now, given back when disposed (when the connection closes); null when the
    /// cluster is at max_connections (counted as <c>upstream_cx_overflow</c>) — Envoy's TCP proxy then closes the
    /// downstream connection.
    /// </summary>
    public IDisposable? TryTakeConnection() => ClusterCircuitBreakers.TryTakeConnection(_state, Limits);
}
