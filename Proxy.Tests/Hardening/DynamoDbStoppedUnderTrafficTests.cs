using System.Net;
using ProxyMesh.Proxy.Tests.DiscoveryService;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// The store under the discovery service stops while traffic flows through a proxy using discovery: the real
/// discovery service on dynalite (a DynamoDB-compatible server), dynalite killed mid-run and restarted.
/// </summary>
public sealed class DynamoDbStoppedUnderTrafficTests
{
    [Fact]
    public async Task Traffic_keeps_the_last_known_hosts_while_DynamoDB_is_down_and_discovery_recovers_when_it_returns()
    {
        await using var dynalite = await Dynalite.StartAsync();
        var settings = DynamoDbStoreTests.Settings(dynalite, "registrations");
        settings["Discovery:CacheTtl"] = "00:00:00.200";
        await using var discovery = await RunningDiscovery.StartAsync(settings);
        using var api = new DiscoveryApi(discovery.Uri);
        await using var orders1 = await Backend.StartEchoAsync("orders-1");
        await using var orders2 = await Backend.StartEchoAsync("orders-2");
        await using var orders3 = await Backend.StartEchoAsync("orders-3");
        await api.CheckInOkAsync("orders", "127.0.0.1", orders1.Uri.Port);
        await api.CheckInOkAsync("orders", "127.0.0.1", orders2.Uri.Port);

        var config = new ProxyConfig()
            .DiscoveryCluster("orders", "orders", discovery.Uri.ToString().TrimEnd('/'), TimeSpan.FromMilliseconds(100))
            .Route("orders", "orders");
        await using var proxy = await RunningProxy.StartAsync(config);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_hosts", "cluster=\"orders\"") == 2,
            "the proxy discovers both hosts");

        var traffic = new SteadyTraffic(proxy.Ingress);
        try
        {
            await traffic.AssertReachesAsync(["orders-1", "orders-2"], "traffic reaches both hosts");

            // DynamoDB goes away: the discovery service answers its last view, marked stale, and counts the store errors.
            await dynalite.StopAsync();
            await Eventually.AssertAsync(
                async () => await api.MetricAsync("""discovery_store_errors_total{operation="read"}""") >= 2
                    && await api.MetricAsync("discovery_stale_answers_total") >= 5,
                "discovery reads fail and stale answers are served");
            using (var refused = await api.CheckInAsync("orders", "127.0.0.1", orders3.Uri.Port))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode); // nothing can be written meanwhile
            }

            var pollsDuringOutage = await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_attempt_total", "cluster=\"orders\"");
            await Eventually.AssertAsync(
                async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_attempt_total", "cluster=\"orders\"") >= pollsDuringOutage + 5,
                "the proxy polls on through the outage");
            await traffic.AssertReachesAsync(["orders-1", "orders-2"], "traffic still reaches both hosts during the outage");
            Assert.Equal(2, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_hosts", "cluster=\"orders\""));

            // DynamoDB returns: a new host checks in, and the proxy sees it through fresh reads.
            await dynalite.RestartAsync();
            await Eventually.AssertAsync(
                async () =>
                {
                    using var checkIn = await api.CheckInAsync("orders", "127.0.0.1", orders3.Uri.Port);
                    return checkIn.IsSuccessStatusCode;
                },
                "check-ins are taken again");
            await traffic.AssertReachesAsync(["orders-1", "orders-2", "orders-3"], "traffic reaches the host that checked in after the outage");
        }
        finally
        {
            var (sent, failed) = await traffic.StopAsync();
            Assert.True(sent > 20, $"traffic flowed throughout ({sent} requests)");
            Assert.Equal(0, failed);
        }
    }

    /// <summary>One client sending requests back to back, recording which hosts answered since asked.</summary>
    private sealed class SteadyTraffic
    {
        private volatile bool _stopping;
        private readonly HashSet<string> _reached = new(StringComparer.Ordinal);
        private readonly Task<(int Sent, int Failed)> _running;

        public SteadyTraffic(Uri proxy) => _running = RunAsync(proxy);

        private async Task<(int, int)> RunAsync(Uri proxy)
        {
            using var client = Clients.Http1(proxy);
            var sent = 0;
            var failed = 0;
            while (!_stopping)
            {
                sent++;
                try
                {
                    using var response = await client.GetAsync($"/orders/{sent}", CancellationToken.None);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        failed++;
                        continue;
                    }

                    lock (_reached)
                    {
                        _reached.Add(response.Headers.GetValues("x-backend").Single());
                    }
                }
                catch (HttpRequestException)
                {
                    failed++;
                }
            }

            return (sent, failed);
        }

        /// <summary>Waits until requests from now on have reached exactly <paramref name="hosts"/>.</summary>
        public async Task AssertReachesAsync(string[] hosts, string what)
        {
            lock (_reached)
            {
                _reached.Clear();
            }

            await Eventually.AssertAsync(
                () =>
                {
                    lock (_reached)
                    {
                        return Task.FromResult(_reached.SetEquals(hosts));
                    }
                },
                what);
        }

        public async Task<(int Sent, int Failed)> StopAsync()
        {
            _stopping = true;
            return await _running;
        }
    }
}
