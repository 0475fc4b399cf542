namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>Caps concurrent retries per cluster (the circuit breaker's <c>max_retries</c>).</summary>
public interface IRetryBudget
{
    /// <returns>False when the cluster has as many retries in flight as it allows; the retry is then not made (the budget counts the overflow).</returns>
    bool TryStartRetry(string clusterId);

    void EndRetry(string clusterId);
}
