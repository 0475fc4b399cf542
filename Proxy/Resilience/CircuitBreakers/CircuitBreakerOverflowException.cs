namespace ProxyMesh.Proxy.Resilience.CircuitBreakers;

/// <summary>A circuit breaker refused an upstream connection; the request is answered 503 with <c>x-envoy-overloaded</c>.</summary>
public sealed class CircuitBreakerOverflowException(string clusterId, string threshold)
    : Exception($"cluster '{clusterId}': {threshold} overflow")
{
    public string ClusterId { get; } = clusterId;

    public static bool IsIn(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is CircuitBreakerOverflowException)
            {
                return true;
            }
        }

        return false;
    }
}
