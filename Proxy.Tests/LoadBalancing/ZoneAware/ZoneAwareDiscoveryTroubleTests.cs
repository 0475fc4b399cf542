using System.Net;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.LoadBalancing.ZoneAware;

/// <summary>
/// Zone-aware routing while discovery is in trouble: the local view (this sidecar's own service, from discovery) is
/// kept like any discovered membership, so traffic that stayed in the local zone keeps doing so when discovery answers
/// 500 or goes away, rather than spreading over every zone as if the local distribution were unknown.
/// </summary>
public sealed class ZoneAwareDiscoveryTroubleTests : IAsyncLifetime
{
    private const string Orders = "cluster=\"orders\"";
    private readonly List<Backend> _backends = [];
    private ScriptedDiscovery _discovery = null!;

    public async Task InitializeAsync()
    {
        foreach (var zone in (string[])["zone-a", "zone-a", "zone-b", "zone-b"])
        {
            _backends.Add(await Backend.StartEchoAsync(zone));
        }

        _discovery = await ScriptedDiscovery.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _discovery.DisposeAsync();
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }

    [Fact]
    public async Task Traffic_stays_in_zone_while_discovery_answers_500_and_while_it_is_down()
    {
        // Local service "tests" and upstream "orders" are both half in zone-a: every pick stays local (Envoy's
        // lb_zone_routing_all_directly). Without a local view the picks would spread over both zones.
        var upstream = _backends.Select((backend, i) => (backend.Address, (string?)(i < 2 ? "zone-a" : "zone-b"))).ToArray();
        var healthy = (string service) => service switch
        {
            "tests" => (200, ScriptedDiscovery.ZonedHosts(service, ("http://10.0.0.1:8080", "zone-a"), ("http://10.0.0.2:8080", "zone-b"))),
            _ => (200, ScriptedDiscovery.ZonedHosts(service, upstream)),
        };
        _discovery.Answer = healthy;
        var config = new ProxyConfig().DiscoveryCluster("orders", "orders", _discovery.Url, TimeSpan.FromMilliseconds(100)).Route("orders", "orders");
        config.Clusters["orders"]!["LoadBalancingPolicy"] = "ProxyMesh.ZoneAware";
        config.Clusters["orders"]!["Metadata"]!["ProxyMesh.ZoneAware.MinClusterSize"] = "2";
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(
            async () =>
            {
                using var response = await client.GetAsync("/");
                return await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_zone_routing_all_directly_total", Orders) > 0;
            },
            "both distributions are known and picks stay in zone");
        Assert.Equal(["zone-a"], await ZonesReachedAsync(client));

        _discovery.Answer = _ => (500, "{}");
        var reads = _discovery.ReadsOf("tests");
        await Eventually.AssertAsync(() => Task.FromResult(_discovery.ReadsOf("tests") >= reads + 3), "the local service is asked again and answered 500");
        var notOk = await MetricsScrape.RequiredAsync(proxy, "proxymesh_lb_local_cluster_not_ok_total", Orders);
        Assert.Equal(["zone-a"], await ZonesReachedAsync(client));

        await _discovery.StopAsync();
        var failures = await MetricsScrape.RequiredAsync(proxy, "proxymesh_cluster_update_failure_total", Orders);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.RequiredAsync(proxy, "proxymesh_cluster_update_failure_total", Orders) >= failures + 3,
            "polls fail while discovery is down");
        Assert.Equal(["zone-a"], await ZonesReachedAsync(client));
        Assert.Equal(notOk, await MetricsScrape.RequiredAsync(proxy, "proxymesh_lb_local_cluster_not_ok_total", Orders));
    }

    /// <summary>The zones 100 requests reached (half the upstream hosts are in zone-b: spreading would show).</summary>
    private static async Task<List<string>> ZonesReachedAsync(HttpClient client)
    {
        var zones = new SortedSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 100; i++)
        {
            using var response = await client.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            zones.Add(response.Headers.GetValues("x-backend").Single());
        }

        return [.. zones];
    }
}
