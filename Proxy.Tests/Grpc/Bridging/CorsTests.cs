using System.Net;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>CORS policies from <c>ProxyMesh:Cors</c>, named by routes: preflights answered by the proxy, validated, reloadable.</summary>
public sealed class CorsTests : IAsyncLifetime
{
    private BridgingUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await BridgingUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    [Fact]
    public async Task Preflight_from_an_allowed_origin_is_answered_by_the_proxy_with_the_grpc_web_headers()
    {
        await using var proxy = await RunningProxy.StartAsync(BridgingConfig.Create(_upstream.Address));
        using var response = await PreflightAsync(proxy, "http://app.test", "content-type,x-grpc-web,x-user-agent,grpc-timeout,x-test-call");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("http://app.test", Header(response, "Access-Control-Allow-Origin"));
        Assert.Contains("POST", Header(response, "Access-Control-Allow-Methods"), StringComparison.Ordinal);
        var allowed = Header(response, "Access-Control-Allow-Headers").Split(',').Select(h => h.Trim()).ToArray();
        Assert.Subset(allowed.ToHashSet(StringComparer.OrdinalIgnoreCase), new HashSet<string>(["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "x-test-call"]));
        Assert.Equal("600", Header(response, "Access-Control-Max-Age"));
        Assert.Empty(_upstream.Seen); // the upstream never saw the preflight
    }

    [Fact]
    public async Task Preflight_from_another_origin_gets_no_permission()
    {
        await using var proxy = await RunningProxy.StartAsync(BridgingConfig.Create(_upstream.Address));
        using var response = await PreflightAsync(proxy, "http://evil.test", "content-type,x-grpc-web");

        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Grpc_web_answer_exposes_the_grpc_status_headers_to_the_allowed_origin()
    {
        await using var proxy = await RunningProxy.StartAsync(BridgingConfig.Create(_upstream.Address));
        using var http = Clients.Http1(proxy.Ingress);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/proxymesh.test.Echo/Unary")
        {
            Content = new ByteArrayContent(GrpcWebTests.Frame(new EchoRequest { Message = "c" })),
        };
        request.Headers.Add("Origin", "http://app.test");
        request.Content.Headers.ContentType = new("application/grpc-web+proto");
        using var response = await http.SendAsync(request);

        Assert.Equal("http://app.test", Header(response, "Access-Control-Allow-Origin"));
        var exposed = Header(response, "Access-Control-Expose-Headers");
        foreach (var name in new[] { "grpc-status", "grpc-message", "x-failure-detail" })
        {
            Assert.Contains(name, exposed, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Theory]
    [InlineData("""{ "AllowedOrigins": [] }""", "AllowedOrigins: name at least one origin")]
    [InlineData("""{ "AllowedOrigins": [ "app.test" ] }""", "is not an origin")]
    [InlineData("""{ "AllowedOrigins": [ "http://app.test/path" ] }""", "is not an origin")]
    [InlineData("""{ "AllowedOrigins": [ "*" ], "AllowCredentials": true }""", "AllowCredentials")]
    [InlineData("""{ "AllowedOrigins": [ "*" ], "AllowedHeaders": [ "bad header" ] }""", "is not an HTTP token")]
    [InlineData("""{ "AllowedOrigins": [ "*" ], "MaxAge": -1 }""", "MaxAge")]
    public void Invalid_policy_is_refused_at_start(string policy, string problem)
    {
        var config = BridgingConfig.Create(_upstream.Address);
        config.Root["ProxyMesh"]!["Cors"]!["browser"] = JsonNode.Parse(policy);
        var error = Assert.Throws<InvalidConfigurationException>(() => ProxyMeshApplication.Build([], WriteSettings(config)));
        Assert.Contains(error.Problems, p => p.StartsWith("ProxyMesh:Cors:browser", StringComparison.Ordinal) && p.Contains(problem, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("ProxyMesh.GrpcWeb")]
    [InlineData("ProxyMesh.GrpcHttp1Bridge")]
    [InlineData("ProxyMesh.GrpcHttp1Bridge.UpgradeProtobuf")]
    public void Bridge_switch_that_is_not_true_or_false_is_refused_at_start(string key)
    {
        var config = BridgingConfig.Create(_upstream.Address);
        ((JsonObject)config.Routes["web"]!["Metadata"]!)[key] = "yes";
        var error = Assert.Throws<InvalidConfigurationException>(() => ProxyMeshApplication.Build([], WriteSettings(config)));
        Assert.Contains($"ReverseProxy:Routes:web:Metadata:{key}: 'yes' must be true or false", error.Problems);
    }

    [Fact]
    public void Route_naming_an_undefined_policy_is_refused_at_start()
    {
        var config = BridgingConfig.Create(_upstream.Address);
        config.Routes["web"]!["CorsPolicy"] = "nowhere";
        var error = Assert.Throws<InvalidConfigurationException>(() => ProxyMeshApplication.Build([], WriteSettings(config)));
        Assert.Contains(error.Problems, p => p.StartsWith("ReverseProxy:Routes:web", StringComparison.Ordinal) && p.Contains("nowhere", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reload_with_a_new_policy_and_route_applies_and_a_bad_one_keeps_the_last_good()
    {
        var config = BridgingConfig.Create(_upstream.Address);
        await using var proxy = await RunningProxy.StartAsync(config);

        config.Root["ProxyMesh"]!["Cors"]!["partner"] = new JsonObject { ["AllowedOrigins"] = new JsonArray("http://partner.test") };
        config.Routes["web"]!["CorsPolicy"] = "partner";
        await proxy.RewriteSettingsAsync(config);
        await Eventually.AssertAsync(
            async () =>
            {
                using var response = await PreflightAsync(proxy, "http://partner.test", "content-type");
                return response.Headers.Contains("Access-Control-Allow-Origin");
            },
            "the new policy serves");

        config.Root["ProxyMesh"]!["Cors"]!["partner"]!["AllowedOrigins"] = new JsonArray("not an origin");
        await proxy.RewriteSettingsAsync(config);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_config_update_rejected_total", null, 1);
        using var still = await PreflightAsync(proxy, "http://partner.test", "content-type");
        Assert.Equal("http://partner.test", Header(still, "Access-Control-Allow-Origin"));
    }

    private static async Task<HttpResponseMessage> PreflightAsync(RunningProxy proxy, string origin, string headers)
    {
        using var http = Clients.Http1(proxy.Ingress);
        using var request = new HttpRequestMessage(HttpMethod.Options, "/proxymesh.test.Echo/Unary");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return await http.SendAsync(request);
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    private static string WriteSettings(ProxyConfig config)
    {
        var directory = Directory.CreateTempSubdirectory("proxymesh-cors-").FullName;
        File.WriteAllText(Path.Combine(directory, "appsettings.json"), config.ToJson());
        return directory;
    }
}
