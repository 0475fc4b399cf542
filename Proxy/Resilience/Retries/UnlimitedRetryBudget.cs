namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>The retry budget when no circuit breaker provides one: every retry allowed.</summary>
internal sealed class UnlimitedRetryBudget : IRetryBudget
{
    public bool TryStartRetry(string clusterId) => true;

    public void EndRetry(string clusterId)
    {
    }
}
