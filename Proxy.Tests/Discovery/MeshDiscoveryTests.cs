using System.Net;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Discovery;

/// <summary>
/// The whole loop with the real discovery service: one sidecar registers its service, another discovers it and
/// routes to it; discovery going away never takes that traffic down, and a drained sidecar leaves the mesh.
/// </summary>
public sealed class MeshDiscoveryTests
{
    private const string Orders = "cluster=\"orders\"";

    [Fact]
    public async Task A_registered_sidecar_is_discovered_survives_a_discovery_outage_and_leaves_when_drained()
    {
        var discoveryPort = ProxyProcess.FreePort();
        var discoverySettings = new Dictionary<string, string?>
        {
            ["Discovery:Url"] = $"http://127.0.0.1:{discoveryPort}",
            ["Discovery:CacheTtl"] = "00:00:00.100",
        };
        var discovery = await RunningDiscovery.StartAsync(discoverySettings);
        await using var app1 = await Backend.StartEchoAsync("orders-1");
        await using var app2 = await Backend.StartEchoAsync("orders-2");
        await using var orders1 = await StartOrdersSidecarAsync(app1, discovery.Uri);
        await using var orders2 = await StartOrdersSidecarAsync(app2, discovery.Uri);

        // The caller's sidecar: egress with a discovery cluster for orders.
        var callerConfig = new ProxyConfig()
            .DiscoveryCluster("orders", "orders", discovery.Uri.ToString(), TimeSpan.FromMilliseconds(100))
            .Route("to-orders", "orders", listeners: "egress", hosts: ["orders"]);
        await using var callerSidecar = await RunningProxy.StartAsync(callerConfig);
        using var client = Clients.Http1(callerSidecar.Egress);

        await Eventually.AssertAsync(async () => (await BackendsAsync(client)).SetEquals(["orders-1", "orders-2"]), "the caller reaches both orders hosts through discovery");

        // Discovery goes away: the caller keeps routing to the last hosts it knew.
        var failuresBefore = await MetricsScrape.ValueAsync(callerSidecar, "proxymesh_cluster_update_failure_total", Orders);
        await discovery.DisposeAsync();
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(callerSidecar, "proxymesh_cluster_update_failure_total", Orders) >= failuresBefore + 3,
            "the caller notices discovery is down");
        Assert.True((await BackendsAsync(client)).SetEquals(["orders-1", "orders-2"]), "traffic still reaches both hosts");

        // Discovery returns (empty: its in-memory state is new) and fills again from check-ins.
        await using var restarted = await RunningDiscovery.StartAsync(discoverySettings);
        var successesBefore = await MetricsScrape.ValueAsync(callerSidecar, "proxymesh_cluster_update_success_total", Orders);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(callerSidecar, "proxymesh_cluster_update_success_total", Orders) > successesBefore,
            "the caller's discovery recovers");
        // Both hosts check in again within their interval.
        await Eventually.AssertAsync(async () => (await BackendsAsync(client)).SetEquals(["orders-1", "orders-2"]), "traffic reaches both hosts after recovery");

        // One orders sidecar drains: it deregisters, and the caller stops sending it traffic.
        using var admin = Clients.Http1(orders1.Admin);
        (await admin.PostAsync("/healthcheck/fail", null)).Dispose();
        await Eventually.AssertAsync(async () => (await BackendsAsync(client)).SetEquals(["orders-2"]), "the drained sidecar leaves the caller's cluster");
    }

    /// <summary>An orders sidecar: ingress in front of its app, registering that ingress with discovery.</summary>
    private static Task<RunningProxy> StartOrdersSidecarAsync(Backend app, Uri discovery)
    {
        var ingress = ProxyProcess.FreePort();
        var config = new ProxyConfig().Cluster("local-app", app.Address).Route("inbound", "local-app", listeners: "ingress");
        config.Root["ProxyMesh"]!["ServiceName"] = "orders";
        config.Listeners["ingress"]!["Url"] = $"http://127.0.0.1:{ingress}";
        config.Root["ProxyMesh"]!["Registration"] = new JsonObject
        {
            ["DiscoveryUrl"] = discovery.ToString(),
            ["Ip"] = "127.0.0.1",
            ["Port"] = ingress,
            ["Interval"] = "00:00:00.200",
        };
        return RunningProxy.StartAsync(config);
    }

    private static async Task<HashSet<string>> BackendsAsync(HttpClient client)
    {
        var reached = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            using var request = client.Request(HttpMethod.Get, "/items");
            request.Headers.Host = "orders";
            using var response = await client.SendAsync(request);
            reached.Add(response.StatusCode == HttpStatusCode.OK ? response.Headers.GetValues("x-backend").Single() : $"status {(int)response.StatusCode}");
        }

        return reached;
    }
}
