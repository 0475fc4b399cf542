using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.LoadBalancing.ZoneAware;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.LoadBalancing.ZoneAware;

/// <summary>
/// The policy called directly, 20,000 picks per case with a seeded random: every share is checked against Envoy's
/// formula within 5 binomial standard deviations, sqrt(n·p·(1−p)); shares of 0 or 1 must be exact.
/// </summary>
public sealed class ZoneAwarePolicyTests
{
    private const int Picks = 20_000;
    private const string Cluster = "orders";

    private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();
    private readonly ClusterTraffic _traffic = new();
    private readonly FixedSource _local = new();
    private ZoneAwareStats? _stats;

    private ZoneAwareStats Stats => _stats ??= new ZoneAwareStats(_registry);

    [Fact]
    public void Even_zones_keep_every_pick_local()
    {
        _local.Current = Local(("a", 2), ("b", 2), ("c", 2));
        var counts = Run(Upstream(("a", 3), ("b", 3), ("c", 3)));

        Assert.Equal(Picks, counts.GetValueOrDefault("a"));
        Assert.Equal(Picks, Stats.For(Cluster).AllDirectly.Value);
        Assert.Equal(Picks, Stats.For(Cluster).Requests("a").Value);
        Assert.Equal(0, Stats.For(Cluster).CrossZone.Value);
    }

    [Fact]
    public void Envoys_documented_example_routes_half_locally()
    {
        // Envoy: "if local percentage is 20% and upstream is 10% we can route only 50% of requests directly".
        _local.Current = Local(("a", 2), ("b", 8));
        var table = ZoneRoutingTable.Build(Upstream(("a", 1), ("b", 9)), "a", _local.Current, 6, panic: false);

        Assert.Equal(ZoneRoutingState.Residual, table.State);
        Assert.Equal(5_000, table.LocalPercentToRoute);
    }

    [Theory]
    [InlineData(new[] { 4, 4, 2 }, new[] { 3, 6, 3 })] // Envoy's own: local 40/40/20, upstream 25/50/25 → 62.5% local, residual 0/10/5.
    [InlineData(new[] { 5, 3, 2 }, new[] { 2, 4, 6 })]
    [InlineData(new[] { 6, 1, 3 }, new[] { 1, 5, 4 })]
    public void Skewed_zones_split_as_Envoys_formula_says(int[] localHosts, int[] upstreamHosts)
    {
        string[] zones = ["a", "b", "c"];
        _local.Current = Local(zones.Select((zone, i) => (zone, localHosts[i])).ToArray());
        var counts = Run(Upstream(zones.Select((zone, i) => (zone, upstreamHosts[i])).ToArray()));

        // Envoy's arithmetic, in units of 1/10,000.
        long Share(int[] hosts, int i) => 10_000L * hosts[i] / hosts.Sum();
        var localFraction = Share(upstreamHosts, 0) * 10_000 / Share(localHosts, 0) / 10_000.0;
        var residual = new double[3];
        for (var i = 1; i < 3; i++)
        {
            residual[i] = Math.Max(0, Share(upstreamHosts, i) - Share(localHosts, i));
        }

        AssertBinomial(Picks, localFraction, counts.GetValueOrDefault("a"), "local picks");
        var cross = Picks - counts.GetValueOrDefault("a");
        for (var i = 1; i < 3; i++)
        {
            AssertBinomial(cross, residual[i] / residual.Sum(), counts.GetValueOrDefault(zones[i]), $"cross-zone picks to {zones[i]}");
        }

        Assert.Equal(counts.GetValueOrDefault("a"), Stats.For(Cluster).Sampled.Value);
        Assert.Equal(cross, Stats.For(Cluster).CrossZone.Value);
    }

    [Fact]
    public void Envoys_source_example_in_numbers()
    {
        _local.Current = Local(("a", 4), ("b", 4), ("c", 2));
        var table = ZoneRoutingTable.Build(Upstream(("a", 3), ("b", 6), ("c", 3)), "a", _local.Current, 6, panic: false);

        Assert.Equal(6_250, table.LocalPercentToRoute);
        Assert.Equal(["b", "c"], table.CrossZones.Select(bucket => bucket.Zone));
        // Residual capacity b 5000 − 4000, c 2500 − 2000 (Envoy's comment: "0 10000 5000" in its 1/100,000 units).
        Assert.Equal([1_000, 1_500], table.CumulativeResidual);
    }

    [Fact]
    public void A_small_cluster_is_not_zone_routed()
    {
        _local.Current = Local(("a", 1), ("b", 1), ("c", 1));
        var counts = Run(Upstream(("a", 1), ("b", 2), ("c", 2)));

        Assert.Equal(Picks, Stats.For(Cluster).TooSmall.Value);
        AssertBinomial(Picks, 1 / 5.0, counts.GetValueOrDefault("a"), "picks to a");
        AssertBinomial(Picks, 2 / 5.0, counts.GetValueOrDefault("b"), "picks to b");
    }

    [Fact]
    public void Min_cluster_size_comes_from_cluster_metadata()
    {
        _local.Current = Local(("a", 1), ("b", 1), ("c", 1));
        var counts = Run(Upstream(("a", 1), ("b", 2), ("c", 2)), new Dictionary<string, string> { ["ProxyMesh.ZoneAware.MinClusterSize"] = "5" });

        // Upstream a holds 20% of hosts, local a 33.33%: 2000 · 10000 / 3333 = 6000 of 10,000 picks stay local.
        Assert.Equal(0, Stats.For(Cluster).TooSmall.Value);
        AssertBinomial(Picks, 0.6, counts.GetValueOrDefault("a"), "local picks");
    }

    [Fact]
    public void Unknown_local_distribution_uses_all_zones()
    {
        _local.Current = null;
        var counts = Run(Upstream(("a", 3), ("b", 3), ("c", 3)));

        Assert.Equal(Picks, Stats.For(Cluster).LocalNotOk.Value);
        AssertBinomial(Picks, 1 / 3.0, counts.GetValueOrDefault("a"), "picks to a");
    }

    [Fact]
    public void A_local_zone_without_available_hosts_overflows_to_the_others()
    {
        // The upstream's zone a hosts are all unhealthy: YARP hands the policy only b and c.
        _local.Current = Local(("a", 2), ("b", 2), ("c", 2));
        var counts = Run(Upstream(("b", 4), ("c", 2)));

        Assert.Equal(0, counts.GetValueOrDefault("a"));
        Assert.Equal(Picks, Stats.For(Cluster).CrossZone.Value);
        // Residual: b 6666 − 3333, c 3333 − 3333 = 0: everything to b.
        Assert.Equal(Picks, counts.GetValueOrDefault("b"));
    }

    [Fact]
    public void Panic_uses_all_zones()
    {
        _local.Current = Local(("a", 1), ("b", 1), ("c", 1));
        _traffic.SetPanic(Cluster, true);
        var counts = Run(Upstream(("a", 3), ("b", 3), ("c", 3)));

        AssertBinomial(Picks, 1 / 3.0, counts.GetValueOrDefault("a"), "picks to a");
        Assert.Equal(0, Stats.For(Cluster).AllDirectly.Value);
    }

    [Theory]
    [InlineData("RoundRobin")]
    [InlineData("Random")]
    [InlineData("LeastRequest")]
    public void The_inner_policy_spreads_picks_within_the_zone(string inner)
    {
        _local.Current = Local(("a", 1), ("b", 1));
        var hosts = Upstream(("a", 4), ("b", 4));
        var picked = new Dictionary<string, int>();
        var policy = Policy();
        var cluster = ClusterOf(hosts, new Dictionary<string, string> { ["ProxyMesh.ZoneAware.Inner"] = inner });
        for (var i = 0; i < Picks; i++)
        {
            var host = policy.PickDestination(new DefaultHttpContext(), cluster, hosts)!;
            picked[host.DestinationId] = picked.GetValueOrDefault(host.DestinationId) + 1;
        }

        Assert.Equal(4, picked.Count);
        foreach (var (_, count) in picked)
        {
            AssertBinomial(Picks, 0.25, count, "picks per local host");
        }
    }

    [Fact]
    public void Least_request_prefers_the_idle_host()
    {
        _local.Current = Local(("a", 1), ("b", 1), ("c", 1));
        var hosts = Upstream(("a", 2), ("b", 2), ("c", 2));
        hosts[0].ConcurrentRequestCount = 5;
        var policy = Policy();
        var cluster = ClusterOf(hosts, null);
        for (var i = 0; i < 100; i++)
        {
            Assert.Same(hosts[1], policy.PickDestination(new DefaultHttpContext(), cluster, hosts));
        }
    }

    [Fact]
    public void A_pick_allocates_nothing()
    {
        _local.Current = Local(("a", 4), ("b", 4), ("c", 2));
        var hosts = Upstream(("a", 3), ("b", 6), ("c", 3));
        var policy = Policy();
        var cluster = ClusterOf(hosts, null);
        var context = new DefaultHttpContext();
        policy.PickDestination(context, cluster, hosts);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            policy.PickDestination(context, cluster, hosts);
        }

        AllocationAssert.NothingPerIteration(GC.GetAllocatedBytesForCurrentThread() - before, 10_000, "zone-aware picks");
    }

    [Theory]
    [InlineData("RoundRobin")]
    [InlineData("Random")]
    [InlineData("LeastRequest")]
    public void The_inner_policy_honours_host_weights_within_the_zone(string inner)
    {
        _local.Current = Local(("a", 1), ("b", 1));
        var hosts = Upstream(("a", 2), ("b", 2));
        hosts[0] = Weighted(hosts[0], 1);
        hosts[1] = Weighted(hosts[1], 3);
        var policy = Policy();
        var cluster = ClusterOf(hosts, new Dictionary<string, string> { ["ProxyMesh.ZoneAware.Inner"] = inner, ["ProxyMesh.ZoneAware.MinClusterSize"] = "1" });
        var light = 0;
        for (var i = 0; i < Picks; i++)
        {
            var host = policy.PickDestination(new DefaultHttpContext(), cluster, hosts)!;
            Assert.Equal("a", ZoneRoutingTable.ZoneOf(host));
            light += host == hosts[0] ? 1 : 0;
        }

        AssertBinomial(Picks, 0.25, light, $"{inner}: picks to the weight-1 host of the weight-1 and weight-3 pair");
    }

    [Fact]
    public void A_retry_skips_tried_hosts_in_the_zone_then_leaves_it_without_rebuilding_the_table()
    {
        _local.Current = Local(("a", 1), ("b", 1), ("c", 1));
        var hosts = Upstream(("a", 2), ("b", 2), ("c", 2));
        var policy = Policy();
        var cluster = ClusterOf(hosts, null);
        policy.PickDestination(new DefaultHttpContext(), cluster, hosts);
        Assert.Equal(1, policy.TableBuilds);

        var oneTried = new DefaultHttpContext();
        oneTried.Features.Set(new TriedHosts([hosts[0]]));
        for (var i = 0; i < 1_000; i++)
        {
            Assert.Same(hosts[1], policy.PickDestination(oneTried, cluster, hosts));
        }

        var zoneTried = new DefaultHttpContext();
        zoneTried.Features.Set(new TriedHosts([hosts[0], hosts[1]]));
        for (var i = 0; i < 1_000; i++)
        {
            Assert.NotEqual("a", ZoneRoutingTable.ZoneOf(policy.PickDestination(zoneTried, cluster, hosts)!));
        }

        Assert.Equal(1, policy.TableBuilds);
    }

    [Fact]
    public void The_table_is_rebuilt_when_the_local_distribution_changes()
    {
        _local.Current = Local(("a", 1), ("b", 1), ("c", 1));
        var hosts = Upstream(("a", 2), ("b", 2), ("c", 2));
        var policy = Policy();
        var cluster = ClusterOf(hosts, null);
        policy.PickDestination(new DefaultHttpContext(), cluster, hosts);
        policy.PickDestination(new DefaultHttpContext(), cluster, hosts);
        Assert.Equal(1, policy.TableBuilds);

        _local.Current = Local(("a", 2), ("b", 1));
        policy.PickDestination(new DefaultHttpContext(), cluster, hosts);
        Assert.Equal(2, policy.TableBuilds);
    }

    [Fact]
    public void The_policy_is_named_ProxyMesh_ZoneAware_and_still_answers_to_ZoneAware()
    {
        var services = new ServiceCollection().AddLogging().AddOptions().AddSingleton(_registry);
        services.AddProxyMeshZoneAwareRouting(new ConfigurationBuilder().Build());
        services.AddSingleton<ILocalZoneSource>(_local);
        using var provider = services.BuildServiceProvider();
        var policies = provider.GetServices<ILoadBalancingPolicy>().ToList();

        var named = Assert.Single(policies, policy => policy.Name == "ProxyMesh.ZoneAware");
        var alias = Assert.Single(policies, policy => policy.Name == "ZoneAware");
        _local.Current = Local(("a", 1));
        var hosts = Upstream(("a", 3));
        var cluster = ClusterOf(hosts, null);
        named.PickDestination(new DefaultHttpContext(), cluster, hosts);
        alias.PickDestination(new DefaultHttpContext(), cluster, hosts);

        // One policy under two names: the alias shares the routing table the first pick built.
        Assert.Equal(1, ((ZoneAwareLoadBalancingPolicy)named).TableBuilds);
    }

    private static DestinationState Weighted(DestinationState host, int weight)
    {
        var config = host.Model.Config;
        return new DestinationState(host.DestinationId, new DestinationModel(config with
        {
            Metadata = new Dictionary<string, string>(config.Metadata!) { ["weight"] = weight.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        }));
    }

    private static void AssertBinomial(int n, double p, int actual, string what)
    {
        var expected = n * p;
        var tolerance = 5 * Math.Sqrt(n * p * (1 - p));
        Assert.True(Math.Abs(actual - expected) <= tolerance, $"{what}: expected {expected:0.#} ± {tolerance:0.#}, was {actual}");
    }

    private Dictionary<string, int> Run(DestinationState[] hosts, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var policy = Policy();
        var cluster = ClusterOf(hosts, metadata);
        var counts = new Dictionary<string, int>();
        var context = new DefaultHttpContext();
        for (var i = 0; i < Picks; i++)
        {
            var zone = ZoneRoutingTable.ZoneOf(policy.PickDestination(context, cluster, hosts)!);
            counts[zone] = counts.GetValueOrDefault(zone) + 1;
        }

        return counts;
    }

    private ZoneAwareLoadBalancingPolicy Policy() =>
        new(_local, new StaticOptionsMonitor<ProxyMeshOptions>(new ProxyMeshOptions { Zone = "a" }), _traffic, Stats, new Random(1234));

    /// <summary>A cluster whose available hosts are <paramref name="hosts"/>, as YARP hands them to the policy.</summary>
    private static ClusterState ClusterOf(DestinationState[] hosts, IReadOnlyDictionary<string, string>? metadata) =>
        new(Cluster, new ClusterModel(new ClusterConfig { ClusterId = Cluster, Metadata = metadata }, new HttpMessageInvoker(new HttpClientHandler())))
        {
            DestinationsState = new ClusterDestinationsState(hosts, hosts),
        };

    internal static LocalZones Local(params (string Zone, int Hosts)[] zones) =>
        new(zones.ToDictionary(zone => zone.Zone, zone => zone.Hosts));

    internal static DestinationState[] Upstream(params (string Zone, int Hosts)[] zones) =>
        zones.SelectMany(zone => Enumerable.Range(0, zone.Hosts).Select(i =>
            new DestinationState($"{zone.Zone}{i}", new DestinationModel(new DestinationConfig
            {
                Address = $"http://{zone.Zone}{i}",
                Metadata = new Dictionary<string, string> { ["zone"] = zone.Zone },
            })))).ToArray();

    private sealed class FixedSource : ILocalZoneSource
    {
        public LocalZones? Current { get; set; }
    }
}
