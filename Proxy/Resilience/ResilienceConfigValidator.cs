using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.Retries;
using ProxyMesh.Proxy.Resilience.Timeouts;

namespace ProxyMesh.Proxy.Resilience;

/// <summary>Validates the retry and timeout policies in <c>ProxyMesh:Defaults</c> and every <c>ProxyMesh:Clusters:&lt;cluster&gt;</c>.</summary>
internal sealed class ResilienceConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        Check(candidate.GetSection(ClusterPolicies.DefaultsSection), problems);
        foreach (var cluster in candidate.GetSection(ClusterPolicies.ClustersSection).GetChildren())
        {
            Check(cluster, problems);
        }
    }

    private static void Check(IConfigurationSection section, List<string> problems)
    {
        var retryKey = $"{section.Path}:{RetryPolicy.Name}";
        if (Bind<RetryPolicy>(section, RetryPolicy.Name, problems) is { } retry)
        {
            RetryConditionsParser.Parse(retry.RetryOn, out var unknown);
            if (unknown is not null)
            {
                problems.Add($"{retryKey}:RetryOn: '{unknown}' is not a retry condition (5xx, gateway-error, reset, connect-failure, refused-stream, retriable-4xx, retriable-status-codes, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable)");
            }

            RetryConditionsParser.ParseStatusCodes(retry.RetriableStatusCodes, out var invalid);
            if (invalid is not null)
            {
                problems.Add($"{retryKey}:RetriableStatusCodes: '{invalid}' is not an HTTP status code");
            }

            if (retry.NumRetries is < 0 or > 10)
            {
                problems.Add($"{retryKey}:NumRetries: must be 0-10");
            }

            if (retry.PerTryTimeout <= TimeSpan.Zero)
            {
                problems.Add($"{retryKey}:PerTryTimeout: must be positive");
            }

            if (retry.BackoffBaseInterval <= TimeSpan.Zero || retry.BackoffCap < retry.BackoffBaseInterval)
            {
                problems.Add($"{retryKey}:BackoffBaseInterval: must be positive and not above BackoffMaxInterval");
            }

            if (retry.MaxReplayBytes < 0)
            {
                problems.Add($"{retryKey}:MaxReplayBytes: must not be negative");
            }
        }

        if (Bind<TimeoutPolicy>(section, TimeoutPolicy.Name, problems) is { } timeouts)
        {
            if (timeouts.Route < TimeSpan.Zero)
            {
                problems.Add($"{section.Path}:{TimeoutPolicy.Name}:Route: must not be negative (00:00:00 disables it)");
            }

            if (timeouts.StreamIdle <= TimeSpan.Zero)
            {
                problems.Add($"{section.Path}:{TimeoutPolicy.Name}:StreamIdle: must be positive (Envoy's stream_idle_timeout; default 00:05:00)");
            }

            if (timeouts.MaxGrpcTimeout < TimeSpan.Zero)
            {
                problems.Add($"{section.Path}:{TimeoutPolicy.Name}:MaxGrpcTimeout: must not be negative (00:00:00 or unset: no cap)");
            }

            if (timeouts.Connect <= TimeSpan.Zero)
            {
                problems.Add($"{section.Path}:{TimeoutPolicy.Name}:Connect: must be positive");
            }
        }
    }

    private static T? Bind<T>(IConfigurationSection section, string policy, List<string> problems)
        where T : class, new()
    {
        try
        {
            return section.GetSection(policy).Get<T>() ?? new T();
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{section.Path}:{policy}: {e.Message}");
            return null;
        }
    }
}
