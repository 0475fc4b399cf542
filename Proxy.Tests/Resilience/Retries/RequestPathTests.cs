using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>
/// The request path one attempt at a time, over real sockets: a declined retry passes the upstream's answer on exactly,
/// local replies never count against a host, a timeout after headers resets the response, bodies stream.
/// </summary>
public sealed class RequestPathTests : IAsyncLifetime
{
    private const string Body = "service is down"; // 15 bytes
    private readonly string _log = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
    private readonly TaskCompletionSource _bodyRequestArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _firstEvent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Backend _http1 = null!;
    private Backend _http2 = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_log)!);
        _http1 = await Backend.StartAsync(app => app.Run(AnswerAsync));
        _http2 = await Backend.StartAsync(app => app.Run(AnswerAsync), HttpProtocols.Http2);
    }

    public async Task DisposeAsync()
    {
        await _http1.DisposeAsync();
        await _http2.DisposeAsync();
    }

    private async Task AnswerAsync(HttpContext context)
    {
        var response = context.Response;
        switch (context.Request.Path.Value)
        {
            case "/length":
                response.StatusCode = 503;
                response.Headers["x-upstream"] = "kept";
                response.ContentLength = Encoding.UTF8.GetByteCount(Body);
                await response.WriteAsync(Body);
                break;
            case "/chunked":
                response.StatusCode = 503;
                response.Headers["x-upstream"] = "kept";
                await response.WriteAsync("service ");
                await response.Body.FlushAsync();
                await response.WriteAsync("is down");
                break;
            case "/trailers":
                response.StatusCode = 503;
                response.DeclareTrailer("x-why");
                await response.WriteAsync(Body);
                response.AppendTrailer("x-why", "maintenance");
                break;
            case "/partial":
                await response.WriteAsync("the first part of a body that never ends");
                await response.Body.FlushAsync();
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
                break;
            case "/events":
                response.ContentType = "text/event-stream";
                await response.Body.FlushAsync();
                await _firstEvent.Task.WaitAsync(context.RequestAborted);
                await response.WriteAsync("data: first\n\n");
                break;
            case "/slow":
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
                break;
            case "/body":
                _bodyRequestArrived.TrySetResult();
                using (var reader = new StreamReader(context.Request.Body))
                {
                    await response.WriteAsync((await reader.ReadToEndAsync()).Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }

                break;
            default:
                await response.WriteAsync("ok");
                break;
        }
    }

    /// <summary>One host per cluster, a retry on every error condition, and no room in the retry budget (max_retries 0).</summary>
    private async Task<RunningProxy> ProxyAsync(JsonObject? timeouts = null, JsonObject? breakers = null)
    {
        var config = new ProxyConfig()
            .Cluster("h1", _http1.Address).Route("h1", "h1", path: "/{**rest}")
            .Cluster("h2", _http2.Address, http2: true).Route("h2", "h2", path: "/h2/{**rest}")
            .Defaults("Retry", new JsonObject { ["RetryOn"] = "5xx,reset,connect-failure", ["NumRetries"] = 2 })
            .Defaults("CircuitBreakers", breakers ?? new JsonObject { ["MaxRetries"] = 0 })
            .Defaults("OutlierDetection", new JsonObject { ["Consecutive5xx"] = 1, ["ConsecutiveGatewayFailure"] = 1, ["EnforcingConsecutiveGatewayFailure"] = 100 });
        config.Routes["h2"]!["Transforms"] = new JsonArray(new JsonObject { ["PathRemovePrefix"] = "/h2" });
        if (timeouts is not null)
        {
            config.Defaults("Timeouts", timeouts);
        }

        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = _log };
        return await RunningProxy.StartAsync(config);
    }

    [Theory]
    [InlineData("/length")]
    [InlineData("/chunked")]
    public async Task A_retry_the_budget_declines_passes_the_upstreams_answer_on_exactly(string path)
    {
        await using var proxy = await ProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("kept", Assert.Single(response.Headers.GetValues("x-upstream")));
        Assert.Equal(Body, await response.Content.ReadAsStringAsync());
        if (path == "/length")
        {
            Assert.Equal(Body.Length, response.Content.Headers.ContentLength);
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_overflow_total", "cluster=\"h1\"", 1);
    }

    [Fact]
    public async Task A_retry_the_budget_declines_passes_the_upstreams_trailers_on_over_http2()
    {
        await using var proxy = await ProxyAsync();
        using var client = Clients.H2c(proxy.Ingress);
        using var response = await client.SendAsync(client.Request(HttpMethod.Get, "/h2/trailers"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(Body, await response.Content.ReadAsStringAsync());
        Assert.Equal("maintenance", Assert.Single(response.TrailingHeaders.GetValues("x-why")));
    }

    [Fact]
    public async Task A_timeout_after_response_headers_resets_the_response_is_flagged_UT_and_never_blames_the_host()
    {
        await using var proxy = await ProxyAsync(new JsonObject { ["Route"] = "00:00:02" }); // room for the headers on a loaded machine
        foreach (var client in new[] { Clients.Http1(proxy.Ingress), Clients.H2c(proxy.Ingress) })
        {
            using (client)
            {
                var path = client.DefaultRequestVersion == HttpVersion.Version20 ? "/h2/partial" : "/partial";
                using var response = await client.SendAsync(client.Request(HttpMethod.Get, path), HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);

                // Never a body that looks complete: the HTTP/1.1 connection is aborted, the HTTP/2 stream reset.
                await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsStringAsync());
            }
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_timeout_total", "cluster=\"h1\",route=\"h1\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_timeout_total", "cluster=\"h2\",route=\"h2\"", 1);
        var entries = await AccessLogFile.WaitForAsync(_log, 2);
        Assert.All(entries, entry => Assert.Equal("UT", entry.GetProperty("response_flags").GetString()));
        foreach (var cluster in new[] { "h1", "h2" })
        {
            Assert.Equal(0, await OutlierDetectionTestBed.Detected(proxy, "consecutive_gateway_failure", cluster));
            Assert.Equal(0, await OutlierDetectionTestBed.Detected(proxy, "consecutive_5xx", cluster));
        }

        using var after = Clients.Http1(proxy.Ingress);
        Assert.Equal("ok", await after.GetStringAsync("/"));
    }

    [Fact]
    public async Task A_timeout_answer_keeps_the_request_id()
    {
        await using var proxy = await ProxyAsync(new JsonObject { ["Route"] = "00:00:00.300" });
        using var client = Clients.Http1(proxy.Ingress);
        using var request = client.Request(HttpMethod.Get, "/slow");
        request.Headers.Add("x-request-id", "timeout-keeps-this-id");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("timeout-keeps-this-id", Assert.Single(response.Headers.GetValues("x-request-id")));
    }

    [Fact]
    public async Task A_per_try_timeout_of_zero_from_the_local_application_means_none()
    {
        await using var proxy = await ProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);
        using var request = client.Request(HttpMethod.Get, "/");
        request.Headers.Add("x-envoy-upstream-rq-per-try-timeout-ms", "0");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_circuit_breaker_overflow_is_a_local_reply_that_never_counts_against_the_host()
    {
        await using var gated = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", gated.Address).Route("app", "app")
            .ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxConnections"] = 1, ["MaxPendingRequests"] = 0 })
            .ClusterPolicy("app", "OutlierDetection", new JsonObject { ["Consecutive5xx"] = 1, ["ConsecutiveGatewayFailure"] = 1, ["EnforcingConsecutiveGatewayFailure"] = 100 });
        await using var proxy = await RunningProxy.StartAsync(config);
        using var holder = Clients.Http1(proxy.Ingress);
        var held = holder.GetAsync("/hold");
        await gated.WaitForHeldAsync(1);

        for (var i = 0; i < 3; i++)
        {
            using var client = Clients.Http1(proxy.Ingress);
            using var overflowed = await client.GetAsync("/hold");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, overflowed.StatusCode);
            Assert.Equal("true", Assert.Single(overflowed.Headers.GetValues("x-envoy-overloaded")));
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"app\"", 3);
        Assert.Equal(0, await OutlierDetectionTestBed.Detected(proxy, "consecutive_gateway_failure", "app"));
        Assert.Equal(0, await OutlierDetectionTestBed.Detected(proxy, "consecutive_5xx", "app"));
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_total", "cluster=\"app\",route=\"app\",response_code=\"503\",response_code_class=\"5xx\""));

        gated.Open();
        Assert.Equal(HttpStatusCode.OK, (await held).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await holder.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task A_replayable_body_streams_to_the_upstream_as_the_client_sends_it()
    {
        await using var proxy = await ProxyAsync(breakers: new JsonObject());
        using var client = Clients.Http1(proxy.Ingress);
        var content = new GatedContent(_bodyRequestArrived.Task);
        using var response = await client.PostAsync("/body", content);
        Assert.Equal("20000", await response.Content.ReadAsStringAsync());
        Assert.True(content.UpstreamSawTheRequestFirst, "the upstream saw the request only after the whole body was read");
    }

    [Fact]
    public async Task Event_stream_headers_reach_the_client_before_the_first_event()
    {
        await using var proxy = await ProxyAsync();
        using var client = Clients.Http1(proxy.Ingress);
        using var response = await client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        _firstEvent.TrySetResult();
        Assert.Equal("data: first\n\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_connect_abandoned_by_a_cancelled_request_gives_its_pending_slot_back()
    {
        await using var gated = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", gated.Address).Route("app", "app")
            .ClusterPolicy("app", "CircuitBreakers", new JsonObject { ["MaxConnections"] = 1, ["MaxPendingRequests"] = 1 })
            .ClusterPolicy("app", "Timeouts", new JsonObject { ["Connect"] = "00:00:01" });
        await using var proxy = await RunningProxy.StartAsync(config);
        using var holder = Clients.Http1(proxy.Ingress);
        var held = holder.GetAsync("/hold");
        await gated.WaitForHeldAsync(1);

        using (var waiter = Clients.Http1(proxy.Ingress))
        using (var cancel = new CancellationTokenSource())
        {
            var waiting = waiter.GetAsync("/hold", cancel.Token);
            await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_active", "cluster=\"app\"", 1);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        }

        // The handler finishes the abandoned connect on its own; its wait for a slot ends within the connect timeout.
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_active", "cluster=\"app\"", 0);
        Assert.False(held.IsCompleted);
        gated.Open();
        Assert.Equal(HttpStatusCode.OK, (await held).StatusCode);
    }

    /// <summary>A 20 000-byte body with a Content-Length whose second half is sent only once the upstream has the request.</summary>
    private sealed class GatedContent(Task upstreamHasTheRequest) : HttpContent
    {
        public bool UpstreamSawTheRequestFirst { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var half = new byte[10_000];
            Array.Fill(half, (byte)'b');
            await stream.WriteAsync(half);
            await stream.FlushAsync();
            try
            {
                await upstreamHasTheRequest.WaitAsync(TimeSpan.FromSeconds(10));
                UpstreamSawTheRequestFirst = true;
            }
            catch (TimeoutException)
            {
                // Send the rest anyway: the assertion reports it.
            }

            await stream.WriteAsync(half);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 20_000;
            return true;
        }
    }
}
