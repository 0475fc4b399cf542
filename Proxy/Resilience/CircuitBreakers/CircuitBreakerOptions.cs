namespace ProxyMesh.Proxy.Resilience.CircuitBreakers;

/// <summary>
/// Envoy's circuit-breaker thresholds of one cluster (<c>ProxyMesh:Defaults:CircuitBreakers</c>, overridden by
/// <c>ProxyMesh:Clusters:&lt;cluster&gt;:CircuitBreakers</c>), with Envoy's defaults.
/// </summary>
public sealed class CircuitBreakerOptions
{
    public const string PolicyName = "CircuitBreakers";

    /// <summary>Upstream connections open to the cluster (Envoy <c>max_connections</c>).</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Requests waiting for an upstream connection (Envoy <c>max_pending_requests</c>).</summary>
    public int MaxPendingRequests { get; set; } = 1024;

    /// <summary>Requests outstanding to the cluster (Envoy <c>max_requests</c>).</summary>
    public int MaxRequests { get; set; } = 1024;

    /// <summary>Retries outstanding to the cluster (Envoy <c>max_retries</c>).</summary>
    public int MaxRetries { get; set; } = 3;
}
