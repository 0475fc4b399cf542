using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

/// <summary>The interval detectors on synthetic counts, defaults and validation.</summary>
public sealed class OutlierDetectionUnitTests
{
    private static List<int> SuccessRate(OutlierDetectionOptions options, params HostCounts[] hosts)
    {
        var outliers = new List<int>();
        OutlierEvaluation.SuccessRateOutliers(hosts, options, outliers);
        return outliers;
    }

    private static List<int> FailurePercentage(OutlierDetectionOptions options, params HostCounts[] hosts)
    {
        var outliers = new List<int>();
        OutlierEvaluation.FailurePercentageOutliers(hosts, options, outliers);
        return outliers;
    }

    [Fact]
    public void Success_rate_ejects_hosts_below_mean_minus_factor_stdevs_given_enough_hosts_and_volume()
    {
        var options = new OutlierDetectionOptions();
        HostCounts Healthy() => new(100, 0);

        // Five hosts at 100 requests: rates 100, 100, 100, 100, 50 → mean 90, stdev 20, threshold 90 − 1.9 × 20 = 52.
        Assert.Equal([4], SuccessRate(options, Healthy(), Healthy(), Healthy(), Healthy(), new HostCounts(50, 50)));

        // Rates 100, 100, 90, 90, 80 → mean 92, stdev 7.5, threshold 77.8: no outlier.
        Assert.Empty(SuccessRate(options, Healthy(), Healthy(), new HostCounts(90, 10), new HostCounts(90, 10), new HostCounts(80, 20)));

        // Four hosts are too few (SuccessRateMinimumHosts 5), and hosts under the request volume do not count.
        Assert.Empty(SuccessRate(options, Healthy(), Healthy(), Healthy(), new HostCounts(0, 100)));
        Assert.Empty(SuccessRate(options, Healthy(), Healthy(), Healthy(), Healthy(), new HostCounts(0, 99)));
    }

    [Fact]
    public void Failure_percentage_ejects_hosts_at_or_above_the_threshold_given_enough_hosts_and_volume()
    {
        var options = new OutlierDetectionOptions();
        HostCounts Healthy() => new(50, 0);

        Assert.Equal([3, 4], FailurePercentage(options, Healthy(), Healthy(), Healthy(), new HostCounts(15, 85), new HostCounts(0, 60)));
        Assert.Empty(FailurePercentage(options, Healthy(), Healthy(), Healthy(), new HostCounts(16, 84), Healthy()));
        Assert.Empty(FailurePercentage(options, Healthy(), Healthy(), Healthy(), new HostCounts(0, 49), Healthy())); // under volume: four hosts left
    }

    [Fact]
    public void Defaults_follow_envoy_with_the_interval_detectors_off()
    {
        var options = ProxyMesh.Proxy.Resilience.ClusterPolicies.Bind<OutlierDetectionOptions>(new ConfigurationBuilder().Build(), "orders", OutlierDetectionOptions.PolicyName);
        Assert.True(options.Enabled);
        Assert.Equal((5, 5, 0), (options.Consecutive5xx, options.ConsecutiveGatewayFailure, options.EnforcingConsecutiveGatewayFailure));
        Assert.Equal((TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(300), 10), (options.Interval, options.BaseEjectionTime, options.MaxEjectionTime, options.MaxEjectionPercent));
        Assert.Equal((0, 5, 100, 1900), (options.EnforcingSuccessRate, options.SuccessRateMinimumHosts, options.SuccessRateRequestVolume, options.SuccessRateStdevFactor));
        Assert.Equal((0, 5, 50, 85), (options.EnforcingFailurePercentage, options.FailurePercentageMinimumHosts, options.FailurePercentageRequestVolume, options.FailurePercentageThreshold));
    }

    public static TheoryData<string, string, string> BadPolicies => new()
    {
        { "ProxyMesh:Defaults:OutlierDetection:Consecutive5xx", "0", "ProxyMesh:Defaults:OutlierDetection:Consecutive5xx: must be at least 1" },
        { "ProxyMesh:Clusters:orders:OutlierDetection:MaxEjectionPercent", "150", "ProxyMesh:Clusters:orders:OutlierDetection:MaxEjectionPercent: must be a percentage from 0 to 100" },
        { "ProxyMesh:Clusters:orders:OutlierDetection:Interval", "-00:00:01", "ProxyMesh:Clusters:orders:OutlierDetection:Interval: must be positive" },
        { "ProxyMesh:Clusters:orders:OutlierDetection:MaxEjectionTime", "00:00:10", "ProxyMesh:Clusters:orders:OutlierDetection:MaxEjectionTime: must not be less than BaseEjectionTime" },
        { "ProxyMesh:Defaults:OutlierDetection:EnforcingSuccessRate", "-1", "ProxyMesh:Defaults:OutlierDetection:EnforcingSuccessRate: must be a percentage from 0 to 100" },
        { "ProxyMesh:Defaults:OutlierDetection:Consecutive5xxx", "3", "ProxyMesh:Defaults:OutlierDetection:Consecutive5xxx: unknown outlier detection key" },
        { "ProxyMesh:Clusters:orders:OutlierDetection:Consecutive5xx", "many", "ProxyMesh:Clusters:orders:OutlierDetection: " },
    };

    [Theory]
    [MemberData(nameof(BadPolicies))]
    public void An_invalid_policy_is_one_line_naming_the_key(string key, string value, string expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
        var problems = new List<string>();
        new OutlierDetectionConfigValidator().Validate(configuration, problems);
        var problem = Assert.Single(problems);
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_default_is_reported_once_not_again_for_each_cluster()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ProxyMesh:Defaults:OutlierDetection:BaseEjectionTime"] = "nope",
            ["ProxyMesh:Clusters:orders:OutlierDetection:Consecutive5xx"] = "3",
        }).Build();
        var problems = new List<string>();
        new OutlierDetectionConfigValidator().Validate(configuration, problems);
        Assert.StartsWith("ProxyMesh:Defaults:OutlierDetection: ", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_proxy_refuses_to_start_with_an_invalid_policy()
    {
        var config = new ProxyConfig().Policy("orders", new System.Text.Json.Nodes.JsonObject { ["Consecutive5xx"] = 0 });
        var e = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(config));
        Assert.Contains("ProxyMesh:Clusters:orders:OutlierDetection:Consecutive5xx: must be at least 1", e.Problems);
    }
}
