using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.LoadBalancing.ZoneAware;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience;
using Yarp.ReverseProxy.LoadBalancing;

namespace ProxyMesh.Proxy.Tests.LoadBalancing;

/// <summary>
/// Over real sockets: a cluster with a host that always answers 503 retries every request it lands on to another host,
/// and the policy's cached state (ring, zone table and weights) is built once, not per retry.
/// </summary>
public sealed class RetriesKeepPolicyStateTests : IAsyncLifetime
{
    private const int Requests = 60;
    private static readonly string[] Zones = ["zone-a", "zone-b", "zone-c"];
    private readonly List<Backend> _good = [];
    private Backend _failing = null!;
    private int _failed;

    public async Task InitializeAsync()
    {
        foreach (var zone in Zones.Concat(Zones).Skip(1))
        {
            _good.Add(await Backend.StartEchoAsync(zone));
        }

        _failing = await Backend.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref _failed);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync("unavailable");
        }));
    }

    public async Task DisposeAsync()
    {
        await _failing.DisposeAsync();
        foreach (var backend in _good)
        {
            await backend.DisposeAsync();
        }
    }

    /// <summary>The failing host (zone-a) and five good ones (zones b, c, a, b, c), retried once on 503, without outlier ejection.</summary>
    private ProxyConfig Config(string policy)
    {
        var addresses = new[] { _failing.Address }.Concat(_good.Select(backend => backend.Address)).ToArray();
        var config = new ProxyConfig().Cluster("app", addresses).Route("app", "app");
        for (var i = 0; i < addresses.Length; i++)
        {
            config.Clusters["app"]!["Destinations"]![$"d{i}"]!["Metadata"] = new JsonObject { ["zone"] = Zones[i % 3], ["weight"] = $"{1 + (i % 2)}" };
        }

        config.Clusters["app"]!["LoadBalancingPolicy"] = policy;
        config.ClusterPolicy("app", "Retry", new JsonObject { ["RetryOn"] = "5xx", ["NumRetries"] = 2, ["BackoffBaseInterval"] = "00:00:00.001" });
        config.ClusterPolicy("app", "OutlierDetection", new JsonObject { ["Enabled"] = false });
        return config;
    }

    private static async Task SendAsync(RunningProxy proxy)
    {
        using var client = Clients.Http1(proxy.Ingress);
        for (var i = 0; i < Requests; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Add("x-request-id", $"key-{i}");
            using var response = await client.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }
    }

    [Fact]
    public async Task A_ring_hash_cluster_under_retries_keeps_its_ring()
    {
        await using var proxy = await RunningProxy.StartAsync(Config(LoadBalancingPolicyNames.RingHash));
        var ring = proxy.Services.GetServices<ILoadBalancingPolicy>().OfType<RingHashPolicy>().Single();

        await SendAsync(proxy);

        Assert.True(Volatile.Read(ref _failed) > 0, "some keys hash to the failing host");
        Assert.Equal(Volatile.Read(ref _failed), await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"app\""));
        Assert.Equal(1, ring.RingBuilds);
    }

    [Theory]
    [InlineData(ZoneAwareLoadBalancingPolicy.PolicyName)]
    [InlineData(ZoneAwareLoadBalancingPolicy.AliasName)]
    public async Task A_zone_aware_cluster_under_retries_keeps_its_table_and_weights(string name)
    {
        var config = Config(name);
        config.Cluster("local", ["http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"]);
        for (var i = 0; i < 3; i++)
        {
            config.Clusters["local"]!["Destinations"]![$"d{i}"]!["Metadata"] = new JsonObject { ["zone"] = Zones[i] };
        }

        config.Root["ProxyMesh"]!["LocalCluster"] = "local";
        await using var proxy = await RunningProxy.StartAsync(config);
        var zoneAware = proxy.Services.GetRequiredService<ZoneAwareLoadBalancingPolicy>();

        await SendAsync(proxy);

        // Even spread, local zone-a: every pick stays in zone-a, whose failing host is retried to its other host.
        Assert.True(Volatile.Read(ref _failed) > 0, "the failing host in the local zone was picked");
        Assert.Equal(Requests, await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_zone_routing_all_directly_total", "cluster=\"app\"") - Volatile.Read(ref _failed));
        Assert.Equal(1, zoneAware.TableBuilds);
    }
}
