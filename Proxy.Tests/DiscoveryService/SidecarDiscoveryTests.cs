using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.DiscoveryService;

/// <summary>Both halves together: a sidecar's registration agent checks in with the real discovery service, another sidecar discovers and routes to it.</summary>
public sealed class SidecarDiscoveryTests
{
    [Fact]
    public async Task A_sidecar_registers_another_discovers_it_and_routes_to_it_until_it_deregisters()
    {
        await using var discovery = await RunningDiscovery.StartAsync();
        await using var orders = await Backend.StartEchoAsync("orders-1");
        using var api = new DiscoveryApi(discovery.Uri);
        var registered = $"127.0.0.1:{orders.Uri.Port.ToString(CultureInfo.InvariantCulture)}";

        var ordersConfig = new ProxyConfig();
        ordersConfig.Root["ProxyMesh"]!["ServiceName"] = "orders";
        ordersConfig.Root["ProxyMesh"]!["Registration"] = new JsonObject
        {
            ["DiscoveryUrl"] = discovery.Uri.ToString().TrimEnd('/'),
            ["Ip"] = "127.0.0.1",
            ["Port"] = orders.Uri.Port,
            ["Revision"] = "build-7",
            ["Tags"] = new JsonObject { ["Region"] = "eu-west-1", ["LoadBalancingWeight"] = 20 },
        };
        var ordersSidecar = await RunningProxy.StartAsync(ordersConfig);
        try
        {
            await Eventually.AssertAsync(async () => (await api.EndpointsAsync("orders")).SequenceEqual([registered]), "the sidecar's check-in is accepted");
            var host = (await api.ServiceAsync("orders"))["hosts"]![0]!;
            Assert.Equal("build-7", (string?)host["revision"]);
            Assert.Equal("zone-a", (string?)host["tags"]!["az"]);
            Assert.Equal(20, (int)host["tags"]!["load_balancing_weight"]!);

            var callerConfig = new ProxyConfig()
                .DiscoveryCluster("orders", "orders", discovery.Uri.ToString().TrimEnd('/'), refreshInterval: TimeSpan.FromMilliseconds(200))
                .Route("to-orders", "orders", "/orders/{**rest}");
            await using var caller = await RunningProxy.StartAsync(callerConfig);
            using var client = Clients.Http1(caller.Ingress);
            await Eventually.AssertAsync(
                async () =>
                {
                    using var response = await client.GetAsync("/orders/42");
                    return response.StatusCode == HttpStatusCode.OK && response.Headers.GetValues("x-backend").Single() == "orders-1";
                },
                "the caller routes to the discovered host");
        }
        finally
        {
            await ordersSidecar.DisposeAsync();
        }

        Assert.Empty(await api.EndpointsAsync("orders")); // deregistered as it shut down
    }
}
