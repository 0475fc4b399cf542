using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.LoadBalancing.ZoneAware;

/// <summary>
/// Zone-aware routing end to end: discovery serves both this sidecar's own service (the local distribution, half of
/// it in zone-a; polled by the same discovery client as the clusters) and the upstream service (six real backends, a third in each zone); traffic through the proxy splits
/// as Envoy's formula says.
/// </summary>
public sealed class ZoneAwareEndToEndTests : IAsyncLifetime
{
    private const int Requests = 1_000;
    private static readonly string[] Zones = ["zone-a", "zone-b", "zone-c"];
    private readonly List<Backend> _backends = [];
    private ScriptedDiscovery _discovery = null!;

    public async Task InitializeAsync()
    {
        foreach (var zone in Zones.Concat(Zones))
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
    public async Task Traffic_splits_between_local_and_other_zones_as_Envoy_computes()
    {
        // Local service "tests": zone-a 2, zone-b 1, zone-c 1 (50/25/25). Upstream "orders": 2 per zone (33/33/33).
        var upstream = _backends.Select((backend, i) => (backend.Address, (string?)Zones[i % 3])).ToArray();
        _discovery.Answer = service => service switch
        {
            "tests" => (200, ScriptedDiscovery.ZonedHosts(service, ("http://10.0.0.1:8080", "zone-a"), ("http://10.0.0.2:8080", "zone-a"),
                ("http://10.0.0.3:8080", "zone-b"), ("http://10.0.0.4:8080", "zone-c"))),
            _ => (200, ScriptedDiscovery.ZonedHosts(service, upstream)),
        };
        var config = new ProxyConfig().DiscoveryCluster("orders", "orders", _discovery.Url, TimeSpan.FromMilliseconds(100)).Route("orders", "orders");
        config.Clusters["orders"]!["LoadBalancingPolicy"] = "ProxyMesh.ZoneAware";
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        await Eventually.AssertAsync(
            async () =>
            {
                using var response = await client.GetAsync("/");
                return await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_zone_routing_sampled_total", "cluster=\"orders\"") > 0
                    && await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_zone_routing_cross_zone_total", "cluster=\"orders\"") > 0;
            },
            "both distributions are known and zone routing samples");

        var before = await ZoneRequestsAsync(proxy);
        var reached = new Dictionary<string, int>();
        for (var i = 0; i < Requests; i++)
        {
            using var response = await client.GetAsync("/");
            response.EnsureSuccessStatusCode();
            var zone = response.Headers.GetValues("x-backend").Single();
            reached[zone] = reached.GetValueOrDefault(zone) + 1;
        }

        // Envoy: upstream 3333 < local 5000 → 3333 · 10000 / 5000 = 6666 of 10,000 stay local; residual b and c 833 each.
        AssertBinomial(Requests, 0.6666, reached.GetValueOrDefault("zone-a"), "zone-a");
        AssertBinomial(Requests - reached.GetValueOrDefault("zone-a"), 0.5, reached.GetValueOrDefault("zone-b"), "zone-b of the cross-zone picks");

        var after = await ZoneRequestsAsync(proxy);
        Assert.Equal(reached.GetValueOrDefault("zone-a"), after["zone-a"] - before["zone-a"]);
    }

    [Fact]
    public async Task A_static_local_cluster_gives_the_local_distribution()
    {
        // Static setup: the local service's zones come from ProxyMesh:LocalCluster (zone-a 2, zone-b 1, zone-c 1), the
        // upstream's from its destinations' zone metadata (2 per zone); no discovery at all.
        var config = new ProxyConfig()
            .Cluster("local", ["http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080", "http://10.0.0.4:8080"])
            .Cluster("orders", _backends.Select(backend => backend.Address))
            .Route("orders", "orders");
        string[] localZones = ["zone-a", "zone-a", "zone-b", "zone-c"];
        for (var i = 0; i < localZones.Length; i++)
        {
            config.Clusters["local"]!["Destinations"]![$"d{i}"]!["Metadata"] = new JsonObject { ["zone"] = localZones[i] };
        }

        for (var i = 0; i < _backends.Count; i++)
        {
            config.Clusters["orders"]!["Destinations"]![$"d{i}"]!["Metadata"] = new JsonObject { ["zone"] = Zones[i % 3] };
        }

        config.Clusters["orders"]!["LoadBalancingPolicy"] = "ZoneAware"; // The policy's first name, still accepted.
        config.Root["ProxyMesh"]!["LocalCluster"] = "local";
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        var reached = new Dictionary<string, int>();
        for (var i = 0; i < Requests; i++)
        {
            using var response = await client.GetAsync("/");
            response.EnsureSuccessStatusCode();
            var zone = response.Headers.GetValues("x-backend").Single();
            reached[zone] = reached.GetValueOrDefault(zone) + 1;
        }

        AssertBinomial(Requests, 0.6666, reached.GetValueOrDefault("zone-a"), "zone-a");
        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_zone_routing_sampled_total", "cluster=\"orders\"") > 0);
    }

    [Fact]
    public async Task The_discovery_client_polls_the_local_service_only_while_a_cluster_is_zone_aware()
    {
        var upstream = _backends.Select((backend, i) => (backend.Address, (string?)Zones[i % 3])).ToArray();
        _discovery.Answer = service => (200, ScriptedDiscovery.ZonedHosts(service, upstream));
        var config = new ProxyConfig().DiscoveryCluster("orders", "orders", _discovery.Url, TimeSpan.FromMilliseconds(100)).Route("orders", "orders");
        await using var proxy = await RunningProxy.StartAsync(config);
        await Eventually.AssertAsync(() => Task.FromResult(_discovery.ReadsOf("orders") >= 3), "the discovery cluster is polled");
        Assert.Equal(0, _discovery.ReadsOf("tests"));

        config.Clusters["orders"]!["LoadBalancingPolicy"] = "ProxyMesh.ZoneAware";
        await proxy.RewriteSettingsAsync(config);
        await Eventually.AssertAsync(() => Task.FromResult(_discovery.ReadsOf("tests") >= 2), "the local service (ProxyMesh:ServiceName) is polled on the same schedule");
    }

    private static async Task<Dictionary<string, double>> ZoneRequestsAsync(RunningProxy proxy)
    {
        var values = new Dictionary<string, double>();
        foreach (var zone in Zones)
        {
            values[zone] = await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_zone_requests_total", $"cluster=\"orders\",destination_zone=\"{zone}\"");
        }

        return values;
    }

    private static void AssertBinomial(int n, double p, int actual, string what)
    {
        var tolerance = 5 * Math.Sqrt(n * p * (1 - p));
        Assert.True(Math.Abs(actual - (n * p)) <= tolerance, $"{what}: expected {n * p:0.#} ± {tolerance:0.#}, was {actual}");
    }
}
