using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.CircuitBreakers;

public sealed class CircuitBreakerConfigValidatorTests
{
    private static List<string> Validate(params (string Key, string Value)[] settings) =>
        PolicyConfig.Validate(new CircuitBreakerConfigValidator(), settings);

    [Fact]
    public void Defaults_and_overrides_in_range_are_valid() =>
        Assert.Empty(Validate(
            ("ProxyMesh:Defaults:CircuitBreakers:MaxRequests", "0"),
            ("ProxyMesh:Clusters:orders:CircuitBreakers:MaxConnections", "10"),
            ("ProxyMesh:Clusters:orders:Retry:Attempts", "x")));

    [Theory]
    [InlineData("ProxyMesh:Defaults:CircuitBreakers:MaxRequests", "-1", "ProxyMesh:Defaults:CircuitBreakers:MaxRequests: must be 0 or more")]
    [InlineData("ProxyMesh:Clusters:orders:CircuitBreakers:MaxPendingRequests", "-5", "ProxyMesh:Clusters:orders:CircuitBreakers:MaxPendingRequests: must be 0 or more")]
    [InlineData("ProxyMesh:Clusters:orders:CircuitBreakers:MaxConnections", "many", "ProxyMesh:Clusters:orders:CircuitBreakers:MaxConnections: 'many' is not a valid int32")]
    [InlineData("ProxyMesh:Clusters:orders:CircuitBreakers:MaxRetry", "3", "ProxyMesh:Clusters:orders:CircuitBreakers:MaxRetry: unknown key")]
    public void Each_problem_names_its_key(string key, string value, string expected) =>
        Assert.StartsWith(expected, Assert.Single(Validate((key, value))), StringComparison.Ordinal);

    [Fact]
    public async Task An_invalid_threshold_stops_the_start_naming_the_key()
    {
        var config = new ProxyConfig().Cluster("app", "http://127.0.0.1:1").Route("app", "app")
            .ClusterPolicy("app", "CircuitBreakers", new System.Text.Json.Nodes.JsonObject { ["MaxRequests"] = -1 });

        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(config));

        Assert.Contains("ProxyMesh:Clusters:app:CircuitBreakers:MaxRequests: must be 0 or more", error.Problems);
    }
}
