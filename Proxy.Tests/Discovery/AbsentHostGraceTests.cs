using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Discovery;

/// <summary>
/// <c>ProxyMesh:Discovery:AbsentHostGrace</c> end to end: a host discovery stops listing keeps taking traffic while its
/// active health checks pass, but only until the grace runs out (counted from the last answer that listed it); then it
/// is removed although it is still healthy.
/// </summary>
public sealed class AbsentHostGraceTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    /// <summary>The refresh interval; a poll waits it plus up to as much jitter.</summary>
    private static readonly TimeSpan Refresh = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task An_absent_healthy_host_serves_until_the_grace_expires_then_leaves()
    {
        await using var stays = await Backend.StartEchoAsync("stays");
        await using var leaves = await Backend.StartEchoAsync("leaves");
        await using var discovery = await ScriptedDiscovery.StartAsync();
        discovery.Answer = service => (200, ScriptedDiscovery.Hosts(service, stays.Address, leaves.Address));
        var config = new ProxyConfig().DiscoveryCluster("orders", "orders", discovery.Url, Refresh).Route("orders", "orders");
        config.Root["ProxyMesh"]!["Discovery"]!["AbsentHostGrace"] = Grace.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
        config.Clusters["orders"]!["LoadBalancingPolicy"] = "RoundRobin";
        config.ClusterPolicies("orders")["HealthCheck"] = new JsonObject
        {
            ["Type"] = "Http",
            ["Path"] = "/health",
            ["Interval"] = "00:00:00.100",
            ["NoTrafficInterval"] = "00:00:00.100",
        };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_healthy_hosts", "cluster=\"orders\"") == 2,
            "both discovered hosts are known and healthy");
        Assert.True((await ReachedAsync(client, 10)).SetEquals(["stays", "leaves"]), "both discovered hosts take traffic");

        // The grace counts from the last answer that listed the host: note when discovery gave it, then drop the host.
        var clock = Stopwatch.StartNew();
        long lastListedTicks = 0;
        discovery.Answer = service =>
        {
            Interlocked.Exchange(ref lastListedTicks, clock.Elapsed.Ticks);
            return (200, ScriptedDiscovery.Hosts(service, stays.Address, leaves.Address));
        };
        await Eventually.AssertAsync(() => Task.FromResult(Interlocked.Read(ref lastListedTicks) > 0), "discovery lists the host once more");
        var dropped = clock.Elapsed;
        discovery.Answer = service => (200, ScriptedDiscovery.Hosts(service, stays.Address));
        var reads = discovery.ReadsOf("orders");
        await Eventually.AssertAsync(() => Task.FromResult(discovery.ReadsOf("orders") >= reads + 3), "discovery answers without the host, several times");
        var keptFor = clock.Elapsed - dropped;
        var reachedWhileAbsent = await ReachedAsync(client, 10);
        var seenGone = TimeSpan.Zero;
        await Eventually.AssertAsync(
            async () =>
            {
                var gone = await MetricsScrape.RequiredAsync(proxy, "proxymesh_cluster_membership_hosts", "cluster=\"orders\"") == 1;
                seenGone = clock.Elapsed;
                return gone;
            },
            "the absent host leaves once the grace has expired",
            TimeSpan.FromSeconds(30));

        if (keptFor < Grace - (2 * Refresh))
        {
            // The usual case: the polls without the host came well inside the grace, and it still served then.
            Assert.True(reachedWhileAbsent.SetEquals(["stays", "leaves"]), $"{keptFor.TotalMilliseconds:0} ms after it was dropped, only {string.Join(",", reachedWhileAbsent)} took traffic");
        }

        var lastListed = TimeSpan.FromTicks(Interlocked.Read(ref lastListedTicks));
        Assert.True(seenGone >= lastListed + Grace, $"the host was gone {(seenGone - lastListed).TotalMilliseconds:0} ms after discovery last listed it, inside the {Grace.TotalMilliseconds} ms grace");
        Assert.Equal(["stays"], await ReachedAsync(client, 10));
        Assert.Equal(1, await MetricsScrape.RequiredAsync(proxy, "proxymesh_cluster_membership_healthy_hosts", "cluster=\"orders\""));
    }

    private static async Task<HashSet<string>> ReachedAsync(HttpClient client, int requests)
    {
        var reached = new HashSet<string>();
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.GetAsync("/who");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            reached.Add(response.Headers.GetValues("x-backend").Single());
        }

        return reached;
    }
}
