using System.Reflection;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>Validates <c>ProxyMesh:Defaults:OutlierDetection</c> and every <c>ProxyMesh:Clusters:*:OutlierDetection</c>.</summary>
internal sealed class OutlierDetectionConfigValidator : IConfigurationValidator
{
    private static readonly HashSet<string> Keys = new(
        typeof(OutlierDetectionOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(property => property.Name),
        StringComparer.OrdinalIgnoreCase);

    public void Validate(IConfiguration candidate, List<string> problems)
    {
        Validate(candidate.GetSection($"{ClusterPolicies.DefaultsSection}:{OutlierDetectionOptions.PolicyName}"), candidate, null, problems);
        foreach (var cluster in ClusterPolicies.ConfiguredClusters(candidate))
        {
            Validate(candidate.GetSection($"{ClusterPolicies.ClustersSection}:{cluster}:{OutlierDetectionOptions.PolicyName}"), candidate, cluster, problems);
        }
    }

    /// <summary>Checks the effective policy, reporting only the keys this section sets (the defaults report their own).</summary>
    private static void Validate(IConfigurationSection section, IConfiguration candidate, string? cluster, List<string> problems)
    {
        if (!section.Exists())
        {
            return;
        }

        foreach (var child in section.GetChildren())
        {
            if (!Keys.Contains(child.Key))
            {
                problems.Add($"{child.Path}: unknown outlier detection key");
            }
        }

        var options = new OutlierDetectionOptions();
        try
        {
            section.Bind(options);
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{section.Path}: {e.Message}");
            return;
        }

        if (cluster is not null)
        {
            try
            {
                options = ClusterPolicies.Bind<OutlierDetectionOptions>(candidate, cluster, OutlierDetectionOptions.PolicyName);
            }
            catch (InvalidOperationException)
            {
                return; // A bad default, reported once under its own key.
            }
        }

        void Check(bool valid, string key, string problem)
        {
            if (!valid && section[key] is not null)
            {
                problems.Add($"{section.Path}:{key}: {problem}");
            }
        }

        Check(options.Consecutive5xx >= 1, nameof(options.Consecutive5xx), "must be at least 1");
        Check(options.ConsecutiveGatewayFailure >= 1, nameof(options.ConsecutiveGatewayFailure), "must be at least 1");
        Check(options.Interval > TimeSpan.Zero, nameof(options.Interval), "must be positive");
        Check(options.BaseEjectionTime > TimeSpan.Zero, nameof(options.BaseEjectionTime), "must be positive");
        var ordered = options.MaxEjectionTime >= options.BaseEjectionTime;
        Check(ordered, nameof(options.MaxEjectionTime), "must not be less than BaseEjectionTime");
        if (section[nameof(options.MaxEjectionTime)] is null)
        {
            Check(ordered, nameof(options.BaseEjectionTime), "must not be more than MaxEjectionTime");
        }

        Percent(options.MaxEjectionPercent, nameof(options.MaxEjectionPercent));
        Percent(options.EnforcingConsecutive5xx, nameof(options.EnforcingConsecutive5xx));
        Percent(options.EnforcingConsecutiveGatewayFailure, nameof(options.EnforcingConsecutiveGatewayFailure));
        Percent(options.EnforcingSuccessRate, nameof(options.EnforcingSuccessRate));
        Percent(options.EnforcingFailurePercentage, nameof(options.EnforcingFailurePercentage));
        Percent(options.FailurePercentageThreshold, nameof(options.FailurePercentageThreshold));
        Check(options.SuccessRateMinimumHosts >= 1, nameof(options.SuccessRateMinimumHosts), "must be at least 1");
        Check(options.FailurePercentageMinimumHosts >= 1, nameof(options.FailurePercentageMinimumHosts), "must be at least 1");
        Check(options.SuccessRateRequestVolume >= 1, nameof(options.SuccessRateRequestVolume), "must be at least 1");
        Check(options.FailurePercentageRequestVolume >= 1, nameof(options.FailurePercentageRequestVolume), "must be at least 1");
        Check(options.SuccessRateStdevFactor >= 0, nameof(options.SuccessRateStdevFactor), "must not be negative");

        void Percent(int value, string key) => Check(value is >= 0 and <= 100, key, "must be a percentage from 0 to 100");
    }
}
