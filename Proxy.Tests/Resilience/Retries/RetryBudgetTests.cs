using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>
/// The retry budget (the breaker's <c>MaxRetries</c>, Envoy's <c>max_retries</c> threshold) through the proxy: retries
/// in flight hold their places until they end, and a retry beyond them is not made (<c>upstream_rq_retry_overflow</c>).
/// </summary>
public sealed class RetryBudgetTests
{
    private const string Cluster = "cluster=\"app\"";

    [Fact]
    public async Task Retries_held_at_the_upstream_use_the_budget_and_the_next_retry_is_refused_until_they_end()
    {
        const int budget = 2;
        var failed = 0;
        await using var failing = await Backend.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref failed);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync("failed");
        }));
        await using var gated = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", [failing.Address, gated.Address]).Route("app", "app")
            .ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxRetries"] = budget });
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        // Each request meets the failing host first; its retry goes to the gated host and is held there.
        var held = new List<Task<HttpResponseMessage>>();
        for (var i = 0; i < budget; i++)
        {
            held.Add(client.GetAsync("/hold"));
        }

        await gated.WaitForHeldAsync(budget);
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_overflow_total", Cluster));

        // One more: its first attempt fails, and the retry it would make is over the budget.
        using (var refused = await client.GetAsync("/hold"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("failed", await refused.Content.ReadAsStringAsync());
        }

        Assert.Equal(budget + 1, Volatile.Read(ref failed));
        Assert.Equal(budget, gated.Held);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_overflow_total", Cluster, 1);
        Assert.Equal(budget, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_total", Cluster));

        // The held retries complete and give their places back: the next request is retried again.
        gated.Open();
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        await Eventually.AssertAsync(
            async () =>
            {
                using var again = await client.GetAsync("/hold");
                return again.StatusCode == HttpStatusCode.OK;
            },
            "a retry is made again once the held ones have ended");
    }
}
