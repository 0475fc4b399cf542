using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Admin;

/// <summary>Envoy-style admin endpoints on the admin listener.</summary>
public sealed class AdminEndpointTests : IAsyncLifetime
{
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;
    private HttpClient _admin = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartEchoAsync();
        var config = new ProxyConfig()
            .Cluster("orders", [_backend.Address, "http://127.0.0.1:1"])
            .Route("orders", "orders", listeners: "egress", hosts: ["orders"]);
        config.Routes["orders"]!["Transforms"] = new JsonArray(
            new JsonObject { ["RequestHeader"] = "Authorization", ["Set"] = "Bearer very-secret" },
            new JsonObject { ["RequestHeader"] = "x-trace", ["Set"] = "visible" });
        config.Routes["orders"]!["Metadata"]!["api-token"] = "hidden-token";
        config.Clusters["orders"]!["Destinations"]!["d1"]!["Address"] = "http://user:pass@127.0.0.1:1";
        _proxy = await RunningProxy.StartAsync(config);
        _admin = Clients.Http1(_proxy.Admin);
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task Ready_answers_live()
    {
        using var response = await _admin.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("LIVE\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Server_info_reports_identity_state_uptime_and_listeners()
    {
        using var info = JsonDocument.Parse(await _admin.GetStringAsync("/server_info"));
        var root = info.RootElement;
        Assert.Equal("LIVE", root.GetProperty("state").GetString());
        Assert.Equal("tests", root.GetProperty("service").GetString());
        Assert.Equal("zone-a", root.GetProperty("zone").GetString());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("version").GetString()));
        Assert.True(root.GetProperty("uptime_seconds").GetDouble() >= 0);
        Assert.Equal(_proxy.Egress.ToString().TrimEnd('/'), root.GetProperty("listeners").GetProperty("egress")[0].GetString());
    }

    [Fact]
    public async Task Clusters_lists_each_destination_with_health_and_active_requests()
    {
        var text = await _admin.GetStringAsync("/clusters");
        Assert.Contains($"orders::d0::address::{_backend.Address}\n", text, StringComparison.Ordinal);
        Assert.Contains("orders::d0::health_flags::healthy\n", text, StringComparison.Ordinal);
        Assert.Contains("orders::d0::rq_active::0\n", text, StringComparison.Ordinal);

        using var json = JsonDocument.Parse(await _admin.GetStringAsync("/clusters?format=json"));
        var cluster = Assert.Single(json.RootElement.GetProperty("cluster_statuses").EnumerateArray());
        Assert.Equal("orders", cluster.GetProperty("name").GetString());
        Assert.Equal(2, cluster.GetProperty("host_statuses").GetArrayLength());
    }

    [Fact]
    public async Task Config_dump_shows_the_effective_configuration_with_secrets_redacted()
    {
        var text = await _admin.GetStringAsync("/config_dump");
        using var dump = JsonDocument.Parse(text);
        var root = dump.RootElement;
        Assert.Equal("orders", root.GetProperty("Routes")[0].GetProperty("RouteId").GetString());
        Assert.Equal("orders", root.GetProperty("Clusters")[0].GetProperty("ClusterId").GetString());
        Assert.Equal("http://127.0.0.1:0", root.GetProperty("Listeners").GetProperty("ingress").GetProperty("Url").GetString());
        Assert.Equal(_proxy.Ingress.ToString().TrimEnd('/'), root.GetProperty("Listeners").GetProperty("ingress").GetProperty("Bound")[0].GetString());
        Assert.Contains("visible", text, StringComparison.Ordinal);
        Assert.DoesNotContain("very-secret", text, StringComparison.Ordinal);
        Assert.DoesNotContain("hidden-token", text, StringComparison.Ordinal);
        Assert.DoesNotContain("user:pass", text, StringComparison.Ordinal);
        Assert.Contains("[redacted]", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Index_lists_the_endpoints()
    {
        var text = await _admin.GetStringAsync("/");
        Assert.Contains("/config_dump", text, StringComparison.Ordinal);
        Assert.Contains("/healthcheck/fail", text, StringComparison.Ordinal);
    }
}
