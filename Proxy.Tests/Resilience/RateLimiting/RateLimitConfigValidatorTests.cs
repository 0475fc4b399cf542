using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience.RateLimiting;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.RateLimiting;

public sealed class RateLimitConfigValidatorTests
{
    private static List<string> Validate(params (string Key, string Value)[] settings) =>
        PolicyConfig.Validate(new RateLimitConfigValidator(), settings);

    [Fact]
    public void A_valid_bucket_is_accepted() =>
        Assert.Empty(Validate(
            ("ProxyMesh:Defaults:RateLimit:Enabled", "true"),
            ("ProxyMesh:Defaults:RateLimit:FillInterval", "00:00:00.050"),
            ("ProxyMesh:Clusters:orders:RateLimit:MaxTokens", "100"),
            ("ReverseProxy:Routes:r:Metadata:ProxyMesh.RateLimit.TokensPerFill", "5"),
            ("ReverseProxy:Routes:r:Metadata:ProxyMesh.Listeners", "egress")));

    [Theory]
    [InlineData("ProxyMesh:Defaults:RateLimit:MaxTokens", "0", "ProxyMesh:Defaults:RateLimit:MaxTokens: must be at least 1")]
    [InlineData("ProxyMesh:Clusters:orders:RateLimit:TokensPerFill", "0", "ProxyMesh:Clusters:orders:RateLimit:TokensPerFill: must be at least 1")]
    [InlineData("ProxyMesh:Clusters:orders:RateLimit:FillInterval", "00:00:00.010", "ProxyMesh:Clusters:orders:RateLimit:FillInterval: must be at least 00:00:00.050")]
    [InlineData("ProxyMesh:Clusters:orders:RateLimit:Enabled", "yes", "ProxyMesh:Clusters:orders:RateLimit:Enabled: 'yes' is not a valid boolean")]
    [InlineData("ReverseProxy:Routes:r:Metadata:ProxyMesh.RateLimit.MaxTokens", "0", "ReverseProxy:Routes:r:Metadata:ProxyMesh.RateLimit.MaxTokens: must be at least 1")]
    [InlineData("ReverseProxy:Routes:r:Metadata:ProxyMesh.RateLimit.FillInterval", "soon", "ReverseProxy:Routes:r:Metadata:ProxyMesh.RateLimit.FillInterval: 'soon' is not a valid time span")]
    [InlineData("ReverseProxy:Routes:r:Metadata:ProxyMesh.RateLimit.Tokens", "1", "ReverseProxy:Routes:r:Metadata:ProxyMesh.RateLimit.Tokens: unknown key")]
    public void Each_problem_names_its_key(string key, string value, string expected) =>
        Assert.StartsWith(expected, Assert.Single(Validate((key, value))), StringComparison.Ordinal);

    [Fact]
    public async Task An_invalid_bucket_stops_the_start_naming_the_key()
    {
        var config = new ProxyConfig().Cluster("app", "http://127.0.0.1:1").Route("app", "app")
            .Defaults("RateLimit", new System.Text.Json.Nodes.JsonObject { ["Enabled"] = true, ["MaxTokens"] = 0 });

        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(config));

        Assert.Contains("ProxyMesh:Defaults:RateLimit:MaxTokens: must be at least 1", error.Problems);
    }
}
