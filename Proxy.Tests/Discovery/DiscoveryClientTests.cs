using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Discovery;

/// <summary>
/// Discovery clusters end to end: a real discovery server on loopback (scripted, to give broken answers too), real
/// upstreams, traffic through the proxy. Discovery trouble of any kind never takes traffic down.
/// </summary>
public sealed class DiscoveryClientTests : IAsyncLifetime
{
    private static readonly TimeSpan Refresh = TimeSpan.FromMilliseconds(100);
    private const string Labels = "cluster=\"orders\"";

    private Backend _one = null!;
    private Backend _two = null!;
    private ScriptedDiscovery _discovery = null!;

    public async Task InitializeAsync()
    {
        _one = await Backend.StartEchoAsync("one");
        _two = await Backend.StartEchoAsync("two");
        _discovery = await ScriptedDiscovery.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _discovery.DisposeAsync();
        await _one.DisposeAsync();
        await _two.DisposeAsync();
    }

    private Task<RunningProxy> StartProxyAsync(Action<ProxyConfig>? adjust = null)
    {
        var config = new ProxyConfig()
            .DiscoveryCluster("orders", "orders", _discovery.Url, Refresh)
            .Route("orders", "orders");
        adjust?.Invoke(config);
        return RunningProxy.StartAsync(config);
    }

    private void Answer(params string[] addresses) => _discovery.Answer = service => (200, ScriptedDiscovery.Hosts(service, addresses));

    [Fact]
    public async Task Discovered_hosts_receive_traffic_with_their_tags_as_metadata()
    {
        _discovery.Answer = service => (200, ScriptedDiscovery.ZonedHosts(service, (_one.Address, "us-east-1a"), (_two.Address, "us-east-1b")));
        await using var proxy = await StartProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);

        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 20)).SetEquals(["one", "two"]), "both discovered hosts take traffic");

        using var admin = Clients.Http1(proxy.Admin);
        using var clusters = JsonDocument.Parse(await admin.GetStringAsync("/clusters?format=json"));
        var zones = clusters.RootElement.GetProperty("cluster_statuses")[0].GetProperty("host_statuses").EnumerateArray()
            .Select(host => host.GetProperty("zone").GetString()).Order();
        Assert.Equal(["us-east-1a", "us-east-1b"], zones);
        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_success_total", Labels) >= 1);
        Assert.Equal(2, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_hosts", Labels));
        Assert.Equal(2, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_healthy_hosts", Labels));
        Assert.NotNull(await MetricsScrape.SampleAsync(proxy, "proxymesh_cluster_update_age_seconds", Labels));
    }

    [Fact]
    public async Task Membership_follows_discovery_as_hosts_come_and_go()
    {
        Answer(_one.Address);
        await using var proxy = await StartProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 5)).SetEquals(["one"]), "the first host takes traffic");

        Answer(_one.Address, _two.Address);
        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 20)).SetEquals(["one", "two"]), "a new host joins");

        Answer(_two.Address);
        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 20)).SetEquals(["two"]), "a host that left discovery (not health-checked) leaves");
    }

    public static TheoryData<string> Troubles => ["unreachable", "error status", "malformed JSON", "wrong shape", "empty", "only unreadable hosts"];

    [Theory]
    [MemberData(nameof(Troubles))]
    public async Task Discovery_trouble_keeps_the_last_hosts_serving_and_is_counted_then_recovers(string trouble)
    {
        Answer(_one.Address);
        await using var proxy = await StartProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 5)).SetEquals(["one"]), "the discovered host takes traffic");

        var stat = trouble is "empty" or "only unreadable hosts" ? "proxymesh_cluster_update_empty_total" : "proxymesh_cluster_update_failure_total";
        var before = await MetricsScrape.ValueAsync(proxy, stat, Labels);
        switch (trouble)
        {
            case "unreachable":
                await _discovery.StopAsync();
                break;
            case "error status":
                _discovery.Answer = _ => (503, "{}");
                break;
            case "malformed JSON":
                _discovery.Answer = _ => (200, """{"hosts": [ {"ip_address": """);
                break;
            case "wrong shape":
                _discovery.Answer = _ => (200, """{"hosts": "all of them"}""");
                break;
            case "empty":
                Answer();
                break;
            default:
                _discovery.Answer = service => (200, $$"""{"service":"{{service}}","hosts":[{"ip_address":"nope","port":1}]}""");
                break;
        }

        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, stat, Labels) >= before + 3, $"{stat} counts repeated trouble");
        Assert.Equal(["one"], await BackendsReachedAsync(client, 10, everyAnswerOk: true));

        if (trouble == "unreachable")
        {
            await _discovery.RestartAsync();
        }

        Answer(_two.Address);
        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 10)).SetEquals(["two"]), "discovery recovers and its answer applies");
    }

    [Fact]
    public async Task An_absent_host_keeps_traffic_while_health_checks_pass_and_leaves_once_they_fail()
    {
        var twoHealthy = true;
        await using var flaky = await Backend.StartAsync(app => app.Run(context =>
        {
            if (context.Request.Path == "/health")
            {
                context.Response.StatusCode = twoHealthy ? 200 : 503;
                return Task.CompletedTask;
            }

            return Backend.Echo(context, "flaky");
        }));
        Answer(_one.Address, flaky.Address);
        await using var proxy = await StartProxyAsync(config => config.Root["ProxyMesh"]!["Clusters"] = new JsonObject
        {
            ["orders"] = new JsonObject
            {
                ["HealthCheck"] = new JsonObject
                {
                    ["Type"] = "Http",
                    ["Path"] = "/health",
                    ["Interval"] = "00:00:00.100",
                    ["NoTrafficInterval"] = "00:00:00.100",
                    ["Timeout"] = "00:00:01",
                },
            },
        });
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 20)).SetEquals(["one", "flaky"]), "both hosts take traffic");

        Answer(_one.Address);
        var reads = _discovery.ReadsOf("orders");
        await Eventually.AssertAsync(() => Task.FromResult(_discovery.ReadsOf("orders") >= reads + 3), "discovery is polled again");
        Assert.True((await BackendsReachedAsync(client, 20)).SetEquals(["one", "flaky"]), "the absent but healthy host still takes traffic");

        twoHealthy = false;
        await Eventually.AssertAsync(async () => (await ClusterDestinationsAsync(proxy)).SetEquals([new Uri(_one.Address).Authority]), "the absent, failing host is removed");
    }

    [Fact]
    public async Task A_request_in_flight_to_a_host_that_leaves_discovery_completes()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await Backend.StartAsync(app => app.Run(async context =>
        {
            started.TrySetResult();
            await release.Task;
            await context.Response.WriteAsync("slow done");
        }));
        Answer(slow.Address);
        await using var proxy = await StartProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(async () => (await ClusterDestinationsAsync(proxy)).Count == 1, "the slow host is discovered");

        var inFlight = client.GetStringAsync("/slow");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Answer(_one.Address);
        await Eventually.AssertAsync(async () => (await ClusterDestinationsAsync(proxy)).SetEquals([new Uri(_one.Address).Authority]), "the slow host leaves");

        release.SetResult();
        Assert.Equal("slow done", await inFlight);
    }

    [Fact]
    public async Task Before_the_first_answer_a_discovery_cluster_answers_503()
    {
        _discovery.Answer = _ => (500, "");
        await using var proxy = await StartProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_failure_total", Labels) >= 1, "a poll fails");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task Unreadable_host_entries_are_skipped_and_counted_while_the_readable_ones_serve()
    {
        _discovery.Answer = service => (200, $$"""
            {"service":"{{service}}","hosts":[
              {"ip_address":"{{new Uri(_one.Address).Host}}","port":{{new Uri(_one.Address).Port}}},
              {"ip_address":"not-an-ip","port":1},
              {"ip_address":"10.0.0.1","port":70000}
            ]}
            """);
        await using var proxy = await StartProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);

        // Until the first answer is taken the cluster has no host (503), so wait for it before requiring every answer OK.
        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 5)).SetEquals(["one"]), "the readable host serves");
        Assert.Equal(["one"], await BackendsReachedAsync(client, 5, everyAnswerOk: true));
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_invalid_host_total", Labels) >= 4,
            "two unreadable entries are counted on every answer");
        Assert.Equal(1, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_hosts", Labels));
    }

    [Fact]
    public async Task A_discovery_answer_slower_than_the_request_timeout_is_a_counted_failure_and_traffic_continues()
    {
        Answer(_one.Address);
        await using var proxy = await StartProxyAsync(config => config.Root["ProxyMesh"]!["Discovery"]!["RequestTimeout"] = "00:00:00.300");
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(async () => (await BackendsReachedAsync(client, 5)).SetEquals(["one"]), "the discovered host takes traffic");

        var failures = await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_failure_total", Labels);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _discovery.Hold = hold.Task;
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_failure_total", Labels) >= failures + 2,
            "polls that never answer fail after the request timeout, one after another");
        Assert.Equal(["one"], await BackendsReachedAsync(client, 10, everyAnswerOk: true));
        hold.SetResult();
    }

    /// <param name="everyAnswerOk">Fail on any answer but 200 (otherwise, while membership changes, other answers are skipped).</param>
    private static async Task<HashSet<string>> BackendsReachedAsync(HttpClient client, int requests, bool everyAnswerOk = false)
    {
        var reached = new HashSet<string>();
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.GetAsync("/who");
            if (everyAnswerOk)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            if (response.StatusCode == HttpStatusCode.OK)
            {
                reached.Add(response.Headers.GetValues("x-backend").Single());
            }
        }

        return reached;
    }

    private static async Task<HashSet<string>> ClusterDestinationsAsync(RunningProxy proxy)
    {
        using var admin = Clients.Http1(proxy.Admin);
        using var clusters = JsonDocument.Parse(await admin.GetStringAsync("/clusters?format=json"));
        return clusters.RootElement.GetProperty("cluster_statuses")[0].GetProperty("host_statuses").EnumerateArray()
            .Select(host => host.GetProperty("destination").GetString()!).ToHashSet();
    }
}
