using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// Validates the <c>HealthCheck</c> policy in <c>ProxyMesh:Defaults</c> and every <c>ProxyMesh:Clusters:&lt;cluster&gt;</c>:
/// each section's own values, and for a cluster the merged policy (a type that needs a path must end up with one).
/// </summary>
internal sealed class HealthCheckConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        var defaults = candidate.GetSection(ClusterPolicies.DefaultsSection);
        var policy = Check(defaults, problems);
        var defaultsValid = policy is not null;
        if (policy is not null)
        {
            CheckPath(policy, $"{defaults.Path}:{HealthCheckPolicy.Name}", problems);
        }

        foreach (var cluster in candidate.GetSection(ClusterPolicies.ClustersSection).GetChildren())
        {
            if (Check(cluster, problems) is not null && defaultsValid)
            {
                CheckPath(ClusterPolicies.Bind<HealthCheckPolicy>(candidate, cluster.Key, HealthCheckPolicy.Name), $"{cluster.Path}:{HealthCheckPolicy.Name}", problems);
            }
        }
    }

    private static HealthCheckPolicy? Check(IConfigurationSection section, List<string> problems)
    {
        var key = $"{section.Path}:{HealthCheckPolicy.Name}";
        HealthCheckPolicy policy;
        try
        {
            policy = section.GetSection(HealthCheckPolicy.Name).Get<HealthCheckPolicy>() ?? new HealthCheckPolicy();
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{key}: {e.Message}");
            return null;
        }

        var count = problems.Count;
        if (HealthCheckPolicy.ParseType(policy.Type) is null)
        {
            problems.Add($"{key}:Type: '{policy.Type}' is not a health check type (Http, Tcp, Grpc, or empty for none)");
        }

        HealthCheckPolicy.ParseStatuses(policy.ExpectedStatuses, out var invalid);
        if (invalid is not null || string.IsNullOrWhiteSpace(policy.ExpectedStatuses))
        {
            problems.Add($"{key}:ExpectedStatuses: '{invalid ?? policy.ExpectedStatuses}' is not an HTTP status or range of statuses (e.g. 200-299)");
        }

        Positive(policy.Interval, $"{key}:Interval", problems);
        Positive(policy.Timeout, $"{key}:Timeout", problems);
        Positive(policy.NoTrafficInterval, $"{key}:NoTrafficInterval", problems);
        if (policy.IntervalJitter < TimeSpan.Zero)
        {
            problems.Add($"{key}:IntervalJitter: must not be negative");
        }

        if (policy.InitialJitter < TimeSpan.Zero)
        {
            problems.Add($"{key}:InitialJitter: must not be negative");
        }

        if (policy.HealthyThreshold < 1)
        {
            problems.Add($"{key}:HealthyThreshold: must be at least 1");
        }

        if (policy.UnhealthyThreshold < 1)
        {
            problems.Add($"{key}:UnhealthyThreshold: must be at least 1");
        }

        if (policy.PanicThreshold is < 0 or > 100 || double.IsNaN(policy.PanicThreshold))
        {
            problems.Add($"{key}:PanicThreshold: must be a percentage, 0-100 (0 disables panic mode)");
        }

        return problems.Count == count ? policy : null;
    }

    private static void CheckPath(HealthCheckPolicy policy, string key, List<string> problems)
    {
        if (policy.Kind == HealthCheckType.Http && !policy.Path.StartsWith('/'))
        {
            problems.Add($"{key}:Path: Http health checks need a path starting with '/'");
        }
    }

    private static void Positive(TimeSpan value, string key, List<string> problems)
    {
        if (value <= TimeSpan.Zero)
        {
            problems.Add($"{key}: must be positive");
        }
    }
}
