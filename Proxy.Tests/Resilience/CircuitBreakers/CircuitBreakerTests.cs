using System.Net;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ProxyMesh.Proxy.Tests.Resilience.CircuitBreakers;

/// <summary>Envoy's circuit breakers end to end: requests held open at a real upstream fill a limit, the rest overflow at once.</summary>
public sealed class CircuitBreakerTests : IAsyncLifetime
{
    private GatedBackend _backend = null!;

    public async Task InitializeAsync() => _backend = await GatedBackend.StartAsync();

    public async Task DisposeAsync() => await _backend.DisposeAsync();

    private ProxyConfig Config() => PolicyConfig.TwoClusters(_backend.Address);

    private static Task<HttpResponseMessage> Get(Uri proxy, string path)
    {
        // One client per request: HTTP/1.1 requests in parallel, each on a connection of its own.
        var client = Clients.Http1(proxy);
        return client.GetAsync(path).ContinueWith(task => { client.Dispose(); return task.Result; }, TaskScheduler.Default);
    }

    private static async Task AssertOverloaded(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("true", Assert.Single(response.Headers.GetValues("x-envoy-overloaded")));
        Assert.Contains("overflow", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static string Labels(string cluster, string resource) => $"cluster=\"{cluster}\",resource=\"{resource}\"";

    [Fact]
    public async Task Requests_over_max_requests_are_answered_503_overloaded_at_once_and_pass_again_once_the_held_ones_finish()
    {
        const int limit = 3, extra = 2;
        await using var proxy = await RunningProxy.StartAsync(Config().ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxRequests"] = limit }));
        var held = Enumerable.Range(0, limit).Select(_ => Get(proxy.Ingress, "/hold")).ToArray();
        await _backend.WaitForHeldAsync(limit);

        var overflowed = await Task.WhenAll(Enumerable.Range(0, extra).Select(_ => Get(proxy.Ingress, "/hold")));

        foreach (var response in overflowed)
        {
            await AssertOverloaded(response);
        }

        Assert.Equal(limit, _backend.Held);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"app\"", extra);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_open", Labels("app", "rq"), 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_remaining", Labels("app", "rq"), 0);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_remaining", Labels("app", "rq_retry"), 3);
        Assert.All(held, request => Assert.False(request.IsCompleted));

        _backend.Open();
        Assert.All(await Task.WhenAll(held), response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_open", Labels("app", "rq"), 0);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_remaining", Labels("app", "rq"), limit);
        Assert.Equal(HttpStatusCode.OK, (await Get(proxy.Ingress, "/hold")).StatusCode);
        Assert.Equal(extra, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"app\""));
    }

    [Fact]
    public async Task A_cluster_override_wins_over_the_defaults_and_other_clusters_keep_the_defaults()
    {
        var config = Config()
            .Defaults("CircuitBreakers", new JsonObject { ["MaxRequests"] = 1 })
            .ClusterPolicy("other", "CircuitBreakers", new JsonObject { ["MaxRequests"] = 2 });
        await using var proxy = await RunningProxy.StartAsync(config);
        var held = new[] { Get(proxy.Ingress, "/hold"), Get(proxy.Ingress, "/other/hold"), Get(proxy.Ingress, "/other/hold") };
        await _backend.WaitForHeldAsync(3);

        await AssertOverloaded(await Get(proxy.Ingress, "/hold"));
        await AssertOverloaded(await Get(proxy.Ingress, "/other/hold"));

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"app\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"other\"", 1);
        _backend.Open();
        await Task.WhenAll(held);
    }

    [Fact]
    public async Task A_reloaded_limit_applies_without_a_restart()
    {
        var config = Config().ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxRequests"] = 1 });
        await using var proxy = await RunningProxy.StartAsync(config);
        var first = Get(proxy.Ingress, "/hold");
        await _backend.WaitForHeldAsync(1);
        await AssertOverloaded(await Get(proxy.Ingress, "/hold"));

        await proxy.RewriteSettingsAsync(Config().ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxRequests"] = 2 }));

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_remaining", Labels("app", "rq"), 1);
        var second = Get(proxy.Ingress, "/hold");
        await _backend.WaitForHeldAsync(2);
        _backend.Open();
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
    }

    [Fact]
    public async Task A_new_connection_over_max_connections_with_no_room_to_wait_is_answered_503_overloaded()
    {
        var config = Config().ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxConnections"] = 2, ["MaxPendingRequests"] = 0 });
        await using var proxy = await RunningProxy.StartAsync(config);
        var held = new[] { Get(proxy.Ingress, "/hold"), Get(proxy.Ingress, "/hold") };
        await _backend.WaitForHeldAsync(2);

        await AssertOverloaded(await Get(proxy.Ingress, "/hold"));

        Assert.Equal(2, _backend.Held);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_overflow_total", "cluster=\"app\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"app\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_open", Labels("app", "cx"), 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_active", "cluster=\"app\"", 2);
        _backend.Open();
        Assert.All(await Task.WhenAll(held), response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        Assert.Equal(HttpStatusCode.OK, (await Get(proxy.Ingress, "/hold")).StatusCode);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_active", "cluster=\"app\"", 2);
    }

    [Fact]
    public async Task Requests_wait_for_a_connection_up_to_max_pending_requests_and_the_next_one_overflows()
    {
        var config = Config().ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxConnections"] = 1, ["MaxPendingRequests"] = 1 });
        await using var proxy = await RunningProxy.StartAsync(config);
        var first = Get(proxy.Ingress, "/hold");
        await _backend.WaitForHeldAsync(1);
        var waiting = Get(proxy.Ingress, "/hold");
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_open", Labels("app", "rq_pending"), 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_active", "cluster=\"app\"", 1);
        Assert.False(waiting.IsCompleted);

        var third = Get(proxy.Ingress, "/hold");

        // One of the two waiting requests overflows at once (the connection pool decides which), the other keeps waiting.
        var overflowed = await Task.WhenAny(waiting, third);
        await AssertOverloaded(await overflowed);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"app\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_overflow_total", "cluster=\"app\"", 2);
        Assert.Equal(1, _backend.Held);

        _backend.Open();
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await (overflowed == waiting ? third : waiting)).StatusCode);
    }

    [Fact]
    public async Task Retries_take_slots_up_to_max_retries_and_the_next_one_is_refused_and_counted()
    {
        await using var proxy = await RunningProxy.StartAsync(Config().ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxRetries"] = 2 }));
        var breakers = proxy.Services.GetRequiredService<ClusterCircuitBreakers>();

        Assert.True(breakers.TryStartRetry("app"));
        Assert.True(breakers.TryStartRetry("app"));
        Assert.False(breakers.TryStartRetry("app"));
        Assert.True(breakers.TryStartRetry("other"));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_open", Labels("app", "rq_retry"), 1);
        breakers.EndRetry("app");
        Assert.True(breakers.TryStartRetry("app"));

        Assert.Equal(1, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_overflow_total", "cluster=\"app\""));
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_overflow_total", "cluster=\"other\""));
    }

    [Fact]
    public async Task Breakers_are_on_by_default_at_envoys_thresholds()
    {
        await using var proxy = await RunningProxy.StartAsync(Config());
        Assert.Equal(HttpStatusCode.OK, (await Get(proxy.Ingress, "/x")).StatusCode);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_remaining", Labels("app", "rq"), 1024);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_remaining", Labels("app", "rq_pending"), 1024);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_remaining", Labels("app", "cx"), 1023);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_remaining", Labels("app", "rq_retry"), 3);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_circuit_breakers_open", Labels("other", "rq"), 0);
    }
}
