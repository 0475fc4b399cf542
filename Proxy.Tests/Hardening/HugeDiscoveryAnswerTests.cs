using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Discovery answers far larger than any real service: 50,000 hosts are taken in bounded time without disturbing
/// other traffic; an answer over <c>MaxHosts</c> or <c>MaxAnswerBytes</c> is rejected whole, counted, and the last
/// good hosts keep serving. The discovery service is a real Kestrel stub.
/// </summary>
public sealed class HugeDiscoveryAnswerTests : IAsyncLifetime
{
    private const string Big = "cluster=\"big\"";
    private ScriptedDiscovery _discovery = null!;
    private Backend _app = null!;
    private Backend _other = null!;

    public async Task InitializeAsync()
    {
        _discovery = await ScriptedDiscovery.StartAsync();
        _app = await Backend.StartEchoAsync("big-app");
        _other = await Backend.StartEchoAsync("other");
        _discovery.Answer = service => (200, ScriptedDiscovery.Hosts(service, _app.Address));
    }

    public async Task DisposeAsync()
    {
        await _discovery.DisposeAsync();
        await _app.DisposeAsync();
        await _other.DisposeAsync();
    }

    private Task<RunningProxy> StartProxyAsync(JsonObject? discoveryLimits = null)
    {
        var config = new ProxyConfig()
            .DiscoveryCluster("big", "big", _discovery.Url, TimeSpan.FromMilliseconds(200))
            .Route("big", "big", "/big/{**rest}")
            .Cluster("other", _other.Address)
            .Route("other", "other", "/other/{**rest}");
        foreach (var (key, value) in discoveryLimits ?? [])
        {
            config.Root["ProxyMesh"]!["Discovery"]![key] = value?.DeepClone();
        }

        return RunningProxy.StartAsync(config);
    }

    /// <summary>An SDS answer with <paramref name="count"/> distinct hosts in 10.0.0.0/8 (never connected to here).</summary>
    private static string ManyHosts(string service, int count)
    {
        var json = new StringBuilder(count * 160);
        json.Append("{\"service\":\"").Append(service).Append("\",\"env\":\"test\",\"hosts\":[");
        for (var i = 0; i < count; i++)
        {
            json.Append(i == 0 ? "" : ",")
                .Append("{\"ip_address\":\"10.").Append((i >> 16) & 255).Append('.').Append((i >> 8) & 255).Append('.').Append(i & 255)
                .Append("\",\"port\":8080,\"revision\":\"r1\",\"service\":\"").Append(service)
                .Append("\",\"tags\":{\"az\":\"zone-a\",\"instance_id\":\"i-").Append(i).Append("\",\"load_balancing_weight\":10}}");
        }

        return json.Append("]}").ToString();
    }

    /// <summary>Sends requests to the static cluster until stopped; returns how many were sent and how many failed.</summary>
    private static async Task<(int Sent, int Failed)> SteadyTrafficAsync(RunningProxy proxy, CancellationToken stop)
    {
        using var client = Clients.Http1(proxy.Ingress);
        var sent = 0;
        var failed = 0;
        while (!stop.IsCancellationRequested)
        {
            sent++;
            try
            {
                using var response = await client.GetAsync("/other/ping", CancellationToken.None);
                failed += response.StatusCode == HttpStatusCode.OK ? 0 : 1;
            }
            catch (HttpRequestException)
            {
                failed++;
            }
        }

        return (sent, failed);
    }

    private static Task MembershipAsync(RunningProxy proxy, int hosts, TimeSpan? timeout = null) =>
        Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_hosts", Big) == hosts,
            $"the big cluster has {hosts} hosts",
            timeout);

    [Fact]
    public async Task Fifty_thousand_hosts_are_taken_in_bounded_time_while_other_traffic_is_served()
    {
        await using var proxy = await StartProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);
        await MembershipAsync(proxy, 1);

        var huge = ManyHosts("big", 50_000);
        using var stop = new CancellationTokenSource();
        var traffic = SteadyTrafficAsync(proxy, stop.Token);
        var watch = Stopwatch.StartNew();
        _discovery.Answer = _ => (200, huge);
        await MembershipAsync(proxy, 50_000, TimeSpan.FromSeconds(60));
        var taken = watch.Elapsed;
        using (var ready = await Clients.Http1(proxy.Admin).GetAsync("/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        // Discovery answers the same 50,000 hosts again: the poll succeeds and changes nothing.
        var successes = await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_success_total", Big);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_success_total", Big) > successes,
            "another poll of the huge answer", TimeSpan.FromSeconds(60));
        Assert.Equal(50_000, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_hosts", Big));
        // Back to the one real host: it takes the cluster's traffic again.
        _discovery.Answer = service => (200, ScriptedDiscovery.Hosts(service, _app.Address));
        await MembershipAsync(proxy, 1, TimeSpan.FromSeconds(60));
        using (var response = await client.GetAsync("/big/hello"))
        {
            Assert.Equal("big-app", response.Headers.GetValues("x-backend").Single());
        }
        await stop.CancelAsync();
        var (sent, failed) = await traffic;
        Assert.True(sent > 10, $"traffic flowed throughout ({sent} requests)");
        Assert.Equal(0, failed);
        Assert.True(taken < TimeSpan.FromSeconds(30), $"50,000 hosts took {taken.TotalSeconds:0.0} s to reach the cluster");
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_rejected_total", Big));
    }

    [Fact]
    public async Task Answers_over_MaxHosts_or_MaxAnswerBytes_are_rejected_whole_and_the_last_good_hosts_serve()
    {
        await using var proxy = await StartProxyAsync(new JsonObject { ["MaxHosts"] = 3, ["MaxAnswerBytes"] = 4096 });
        using var client = Clients.Http1(proxy.Ingress);
        await MembershipAsync(proxy, 1);

        // One host more than MaxHosts.
        _discovery.Answer = _ => (200, ManyHosts("big", 4));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_cluster_update_rejected_total", Big, 1);

        // A few bytes more than MaxAnswerBytes (sent chunked: the size is known only while reading).
        var padded = JsonNode.Parse(ScriptedDiscovery.Hosts("big", _app.Address))!;
        padded["padding"] = new string('x', 4096);
        _discovery.Answer = _ => (200, padded.ToJsonString());
        var rejected = await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_rejected_total", Big);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_rejected_total", Big) >= rejected + 2,
            "oversized answers are rejected");

        Assert.Equal(1, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_hosts", Big));
        using (var response = await client.GetAsync("/big/still"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("big-app", response.Headers.GetValues("x-backend").Single());
        }

        // An answer within both limits is taken again.
        _discovery.Answer = _ => (200, ManyHosts("big", 3));
        await MembershipAsync(proxy, 3);
    }

    [Theory]
    [InlineData("MaxHosts", 0)]
    [InlineData("MaxAnswerBytes", 0)]
    public async Task A_limit_below_one_is_refused_at_reload_and_the_last_good_config_kept(string key, int value)
    {
        await using var proxy = await StartProxyAsync();
        await MembershipAsync(proxy, 1);
        var before = await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_rejected_total");

        var bad = new ProxyConfig()
            .DiscoveryCluster("big", "big", _discovery.Url, TimeSpan.FromMilliseconds(200))
            .Route("big", "big", "/big/{**rest}")
            .Cluster("other", _other.Address)
            .Route("other", "other", "/other/{**rest}");
        bad.Root["ProxyMesh"]!["Discovery"]![key] = value;
        await proxy.RewriteSettingsAsync(bad);

        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_rejected_total") > before,
            $"the reload with {key} {value} is rejected");
        using var client = Clients.Http1(proxy.Ingress);
        using var response = await client.GetAsync("/big/after");
        Assert.Equal("big-app", response.Headers.GetValues("x-backend").Single());
    }
}
