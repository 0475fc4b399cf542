namespace ProxyMesh.Proxy.Resilience.CircuitBreakers;

/// <summary>Validates <c>CircuitBreakers</c> in the defaults and in every cluster: every threshold is a count, 0 or more.</summary>
internal sealed class CircuitBreakerConfigValidator : ClusterPolicyValidator<CircuitBreakerOptions>
{
    protected override string Policy => CircuitBreakerOptions.PolicyName;

    protected override void Check(CircuitBreakerOptions options, string prefix, List<string> problems)
    {
        NotNegative(options.MaxConnections, nameof(options.MaxConnections));
        NotNegative(options.MaxPendingRequests, nameof(options.MaxPendingRequests));
        NotNegative(options.MaxRequests, nameof(options.MaxRequests));
        NotNegative(options.MaxRetries, nameof(options.MaxRetries));

        void NotNegative(int value, string key)
        {
            if (value < 0)
            {
                problems.Add($"{prefix}:{key}: must be 0 or more");
            }
        }
    }
}
