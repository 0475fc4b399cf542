using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

/// <summary>
/// A cluster that configures YARP's own passive health checks keeps them: the proxy pipeline's passive step hands its
/// requests to YARP's policy (clusters on outlier detection alone skip the step).
/// </summary>
public sealed class PassiveHealthStepTests
{
    [Fact]
    public async Task YARP_transport_failure_rate_policy_marks_a_refusing_host_unhealthy()
    {
        var config = new ProxyConfig().Cluster("app", $"http://127.0.0.1:{ProxyProcess.FreePort()}").Route("all", "app")
            .Defaults("OutlierDetection", new JsonObject { ["Enabled"] = false })
            .Defaults("Retry", new JsonObject { ["NumRetries"] = 0 });
        config.Clusters["app"]!["HealthCheck"] = new JsonObject
        {
            ["Passive"] = new JsonObject { ["Enabled"] = true, ["Policy"] = "TransportFailureRate" },
        };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        using var admin = Clients.Http1(proxy.Admin);

        // YARP's policy judges a host once it has seen 10 requests in its window; every one of these fails to connect.
        for (var i = 0; i < 12; i++)
        {
            using var response = await client.GetAsync("/");
            Assert.False(response.IsSuccessStatusCode);
        }

        await Eventually.AssertAsync(
            async () => await PassiveHealthAsync(admin) == "Unhealthy",
            "the refusing host is passively unhealthy");
    }

    private static async Task<string?> PassiveHealthAsync(HttpClient admin)
    {
        using var json = JsonDocument.Parse(await admin.GetStringAsync("/clusters?format=json"));
        var cluster = Assert.Single(json.RootElement.GetProperty("cluster_statuses").EnumerateArray());
        var host = Assert.Single(cluster.GetProperty("host_statuses").EnumerateArray());
        return host.GetProperty("health").GetProperty("passive").GetString();
    }
}
