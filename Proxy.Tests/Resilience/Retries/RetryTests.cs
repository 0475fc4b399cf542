using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Grpc;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>
/// Retries to another host, on Envoy's conditions. Clusters list a failing host first and pick destinations with
/// YARP's FirstAlphabetical policy, so the first attempt always meets the failure and a retry must go elsewhere.
/// </summary>
public sealed class RetryTests : IAsyncLifetime
{
    private Backend _good = null!;
    private readonly List<IAsyncDisposable> _owned = [];

    public async Task InitializeAsync() => _good = await Backend.StartEchoAsync("good");

    public async Task DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        await _good.DisposeAsync();
    }

    /// <summary>A host that answers every request with <paramref name="status"/> after reading the body, and counts them.</summary>
    /// <summary>x-envoy-* headers that reached an upstream (they never should).</summary>
    private int _controlHeadersForwarded;

    private async Task<(Backend Host, Func<int> Requests)> FailingAsync(int status, bool reset = false)
    {
        var requests = 0;
        var host = await Backend.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref requests);
            if (context.Request.Headers.Keys.Any(name => name.StartsWith("x-envoy-", StringComparison.OrdinalIgnoreCase)))
            {
                Interlocked.Increment(ref _controlHeadersForwarded);
            }

            await context.Request.Body.CopyToAsync(Stream.Null);
            if (reset)
            {
                context.Abort();
                return;
            }

            context.Response.StatusCode = status;
            await context.Response.WriteAsync("failed");
        }));
        _owned.Add(host);
        return (host, () => Volatile.Read(ref requests));
    }

    private async Task<RunningProxy> ProxyAsync(string firstHost, JsonObject? retry = null, Action<ProxyConfig>? adjust = null)
    {
        var config = new ProxyConfig().Cluster("app", [firstHost, _good.Address]).Route("app", "app");
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        if (retry is not null)
        {
            config.Root["ProxyMesh"]!["Clusters"] = new JsonObject { ["app"] = new JsonObject { ["Retry"] = retry } };
        }

        adjust?.Invoke(config);
        var proxy = await RunningProxy.StartAsync(config);
        _owned.Add(proxy);
        return proxy;
    }

    private static async Task<HttpResponseMessage> SendAsync(RunningProxy proxy, HttpMethod method, string? body = null, params (string Name, string Value)[] headers)
    {
        using var client = Clients.Http1(proxy.Ingress);
        using var request = client.Request(method, "/work");
        if (body is not null)
        {
            request.Content = new StringContent(body);
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private const string Cluster = "cluster=\"app\"";

    [Fact]
    public async Task By_default_a_connect_failure_is_retried_on_another_host()
    {
        var proxy = await ProxyAsync($"http://127.0.0.1:{ProxyProcess.FreePort()}");
        using var response = await SendAsync(proxy, HttpMethod.Post, "not idempotent, but it never reached the host");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("good", response.Headers.GetValues("x-backend").Single());
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_total", Cluster, 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_success_total", Cluster, 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_total", Cluster + ",route=\"app\",response_code=\"200\",response_code_class=\"2xx\"", 1);
    }

    [Fact]
    public async Task By_default_a_gateway_error_is_retried_for_idempotent_methods_only()
    {
        var (failing, requests) = await FailingAsync(503);
        var proxy = await ProxyAsync(failing.Address);

        using (var get = await SendAsync(proxy, HttpMethod.Get))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }

        using (var post = await SendAsync(proxy, HttpMethod.Post, "once"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, post.StatusCode);
            Assert.Equal("failed", await post.Content.ReadAsStringAsync());
        }

        Assert.Equal(2, requests());
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_total", Cluster, 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_retry_upstream_rq_total", Cluster + ",response_code_class=\"5xx\"", 1);
    }

    [Fact]
    public async Task Upstream_stats_count_each_attempt_and_downstream_stats_each_request()
    {
        var (failing, requests) = await FailingAsync(503);
        var proxy = await ProxyAsync(failing.Address);
        for (var i = 0; i < 5; i++)
        {
            using var response = await SendAsync(proxy, HttpMethod.Get);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(5, requests());
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_total", Cluster + ",route=\"app\",response_code=\"503\",response_code_class=\"5xx\"", 5);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_total", Cluster + ",route=\"app\",response_code=\"200\",response_code_class=\"2xx\"", 5);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_time_seconds_count", Cluster + ",route=\"app\"", 10);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_total", Cluster, 5);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_downstream_rq_total", "listener=\"ingress\",response_code_class=\"2xx\"", 5);
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_downstream_rq_total", "listener=\"ingress\",response_code_class=\"5xx\""));
    }

    [Theory]
    [InlineData(500, "5xx", true)]
    [InlineData(500, "gateway-error", false)]
    [InlineData(409, "retriable-4xx", true)]
    [InlineData(409, "5xx", false)]
    [InlineData(418, "retriable-status-codes", true)]
    [InlineData(504, "gateway-error", true)]
    public async Task Each_condition_retries_what_it_names(int status, string retryOn, bool retried)
    {
        var (failing, _) = await FailingAsync(status);
        var proxy = await ProxyAsync(failing.Address, new JsonObject { ["RetryOn"] = retryOn, ["RetriableStatusCodes"] = "418" });
        using var response = await SendAsync(proxy, HttpMethod.Get);
        Assert.Equal(retried ? HttpStatusCode.OK : (HttpStatusCode)status, response.StatusCode);
    }

    [Fact]
    public async Task A_retry_beyond_the_breakers_max_retries_is_not_made_and_counted()
    {
        var (failing, requests) = await FailingAsync(503);
        var proxy = await ProxyAsync(failing.Address, adjust: config =>
            config.Root["ProxyMesh"]!["Clusters"] = new JsonObject { ["app"] = new JsonObject { ["CircuitBreakers"] = new JsonObject { ["MaxRetries"] = 0 } } });
        using var response = await SendAsync(proxy, HttpMethod.Get);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, requests());
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_overflow_total", Cluster, 1);
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_total", Cluster));
    }

    [Fact]
    public async Task A_reset_is_retried_when_reset_is_a_condition()
    {
        var (failing, _) = await FailingAsync(200, reset: true);
        var proxy = await ProxyAsync(failing.Address, new JsonObject { ["RetryOn"] = "reset" });
        using var response = await SendAsync(proxy, HttpMethod.Get);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_small_body_is_replayed_intact_and_a_large_one_is_never_retried()
    {
        var (failing, requests) = await FailingAsync(503);
        var proxy = await ProxyAsync(failing.Address, new JsonObject { ["MaxReplayBytes"] = 20_000 });
        var small = new string('s', 10_000);
        using (var response = await SendAsync(proxy, HttpMethod.Put, small))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(small, await response.Content.ReadAsStringAsync());
        }

        using (var response = await SendAsync(proxy, HttpMethod.Put, new string('l', 30_000)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        Assert.Equal(2, requests());
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_or_shadow_abandoned_total", Cluster, 1);
    }

    [Fact]
    public async Task Override_headers_are_honoured_from_a_trusted_listener_ignored_from_others_and_never_forwarded()
    {
        var (failing, _) = await FailingAsync(503);
        var proxy = await ProxyAsync(failing.Address, adjust: config =>
            config.Listeners["egress"]!["TrustControlHeaders"] = false);

        using (var trusted = await SendAsync(proxy, HttpMethod.Get, headers: ("x-envoy-max-retries", "0")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, trusted.StatusCode);
        }

        using var outside = Clients.Http1(proxy.Egress);
        using var request = outside.Request(HttpMethod.Get, "/work");
        request.Headers.Add("x-envoy-max-retries", "0");
        request.Headers.Add("x-envoy-upstream-rq-timeout-ms", "1");
        using var response = await outside.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, Volatile.Read(ref _controlHeadersForwarded));
    }

    [Fact]
    public async Task A_retriable_grpc_status_in_a_trailers_only_response_is_retried()
    {
        var unavailable = await Backend.StartAsync(
            app => app.Run(context =>
            {
                context.Response.ContentType = "application/grpc";
                context.Response.Headers["grpc-status"] = "14";
                context.Response.Headers["grpc-message"] = "not now";
                return Task.CompletedTask;
            }),
            HttpProtocols.Http2);
        _owned.Add(unavailable);
        var echo = await Backend.StartAsync(
            app => app.MapGrpcService<EchoService>(),
            HttpProtocols.Http2,
            services => services.AddGrpc().Services.AddSingleton(new CancellationObserver()));
        _owned.Add(echo);
        var config = new ProxyConfig().Cluster("grpc", [unavailable.Address, echo.Address], http2: true).Route("grpc", "grpc");
        config.Clusters["grpc"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        config.Root["ProxyMesh"]!["Defaults"] = new JsonObject { ["Retry"] = new JsonObject { ["RetryOn"] = "unavailable" } };
        var proxy = await RunningProxy.StartAsync(config);
        _owned.Add(proxy);

        using var channel = GrpcChannel.ForAddress(proxy.Ingress, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { UseProxy = false } });
        var reply = await new Echo.EchoClient(channel).UnaryAsync(new EchoRequest { Message = "again" });
        Assert.Equal("again", reply.Message);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"grpc\"", 1);
    }

    [Fact]
    public async Task Without_retriable_conditions_the_failure_reaches_the_caller_unchanged()
    {
        var (failing, requests) = await FailingAsync(503);
        var proxy = await ProxyAsync(failing.Address, new JsonObject { ["NumRetries"] = 0 });
        using var response = await SendAsync(proxy, HttpMethod.Get);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("failed", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, requests());
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_total", Cluster));
        _ = StatusCode.OK;
    }
}
