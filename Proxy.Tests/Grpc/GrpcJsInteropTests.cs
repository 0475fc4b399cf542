using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience;

namespace ProxyMesh.Proxy.Tests.Grpc;

/// <summary>
/// gRPC through the proxy between peers that are not .NET: a <c>@grpc/grpc-js</c> client calling a grpc-js server.
/// grpc-js holds the protocol strictly (a status must end the stream: trailers-only, or headers then trailers), where
/// Grpc.Net.Client is lenient. The route timeout is 1 s, shorter than several of the calls.
/// </summary>
public sealed class GrpcJsInteropTests(NodeGrpc node) : IClassFixture<NodeGrpc>, IAsyncLifetime
{
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync() =>
        _proxy = await RunningProxy.StartAsync(new ProxyConfig()
            .Cluster("node", node.ServerAddress, http2: true).Route("node", "node")
            .ClusterPolicy("node", "Timeouts", new JsonObject { ["Route"] = "00:00:01" }));

    public async Task DisposeAsync() => await _proxy.DisposeAsync();

    private Task<GrpcJsResult> CallAsync(object call, RunningProxy? proxy = null) => node.CallAsync((proxy ?? _proxy).Ingress, call);

    [Fact]
    public async Task A_call_the_overload_manager_sheds_is_unavailable_with_x_envoy_overloaded_and_the_channel_stays_usable()
    {
        // grpc-js requires a status to end the stream: the shed answer is a trailers-only response, as Envoy's local reply.
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo");
        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxActiveRequests"] = 1 };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        using var holding = new Echo.EchoClient(channel).ServerStream(new EchoRequest { Message = "held", Count = 0 });
        Assert.True(await holding.ResponseStream.MoveNext(CancellationToken.None));

        var result = await CallAsync(new { method = "unary", message = "over", repeat = 3 }, proxy);
        Assert.Equal(14, result.Code);
        Assert.Equal("envoy overloaded", result.Details);
        Assert.Equal("true", result.Trailers["x-envoy-overloaded"]);
        Assert.Equal([14, 14, 14], result.Calls!.Select(call => call.Code));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_overload_shed_total", "reason=\"max_active_requests\"", 3);
    }

    [Fact]
    public async Task A_unary_call_passes()
    {
        var result = await CallAsync(new { method = "unary", message = "hi" });
        Assert.Equal((0, "hi"), (result.Code, Assert.Single(result.Replies).Message));
    }

    [Theory]
    [InlineData(5)] // NOT_FOUND
    [InlineData(3)] // INVALID_ARGUMENT
    [InlineData(7)] // PERMISSION_DENIED
    public async Task A_trailers_only_error_arrives_with_its_message_and_trailing_metadata(int status)
    {
        var result = await CallAsync(new { method = "unary", failWithStatus = status });
        Assert.Equal(status, result.Code);
        Assert.Equal($"failing with {status} as asked", result.Details);
        Assert.Equal("requested by test", result.Trailers["x-failure-detail"]);
    }

    [Fact]
    public async Task A_server_stream_longer_than_the_route_timeout_passes_every_message()
    {
        var result = await CallAsync(new { method = "serverStream", message = "m", count = 25, delayMs = 100 });
        Assert.Equal(0, result.Code);
        Assert.Equal(25, result.Replies.Count);
        Assert.True(result.ElapsedMs > 2000, $"the stream took {result.ElapsedMs} ms, not longer than the route timeout");
    }

    [Fact]
    public async Task A_client_stream_passes_every_message()
    {
        var result = await CallAsync(new { method = "clientStream", messages = new[] { "a", "b", "c" } });
        Assert.Equal((0, "a,b,c"), (result.Code, Assert.Single(result.Replies).Message));
    }

    [Fact]
    public async Task A_bidi_caller_that_waits_for_response_headers_before_sending_gets_them()
    {
        var result = await CallAsync(new { method = "bidi", messages = new[] { "x", "y" }, deadlineMs = 20_000 });
        Assert.True(result.HeadersReceived);
        Assert.Equal(0, result.Code);
        Assert.Equal(["X", "Y"], result.Replies.Select(reply => reply.Message));
    }

    [Fact]
    public async Task A_status_the_server_sends_while_the_caller_still_streams_reaches_the_caller_at_once()
    {
        var result = await CallAsync(new { method = "bidi", messages = new[] { "a", "end" }, keepOpen = true, deadlineMs = 20_000 });
        Assert.Equal(0, result.Code); // not DEADLINE_EXCEEDED: the trailers came when the server sent them
        Assert.Equal(["A"], result.Replies.Select(reply => reply.Message));
    }

    [Fact]
    public async Task A_deadline_longer_than_the_route_timeout_is_the_calls_bound_and_reaches_the_upstream_reduced()
    {
        var result = await CallAsync(new { method = "unary", message = "slow", delayMs = 2000, deadlineMs = 10_000 });
        Assert.Equal(0, result.Code);
        Assert.InRange(Assert.Single(result.Replies).DeadlineSeconds, 5, 10);
    }

    [Fact]
    public async Task A_deadline_shorter_than_the_route_timeout_ends_the_call_deadline_exceeded()
    {
        var result = await CallAsync(new { method = "unary", message = "late", delayMs = 10_000, deadlineMs = 300 });
        Assert.Equal(4, result.Code);

        // Ended by the deadline, long before the upstream's answer; loose enough for timers late on a loaded machine.
        Assert.True(result.ElapsedMs < 5000, $"ended after {result.ElapsedMs} ms");
    }

    [Fact]
    public async Task The_proxys_own_answers_are_valid_trailers_only_responses()
    {
        // An upstream that ignores the deadline it is sent, so that only the proxy's own timer can end the call (a
        // grpc-js server would answer DEADLINE_EXCEEDED itself from the reduced grpc-timeout, racing the proxy).
        await using var stalled = await Backend.StartAsync(
            app => app.Run(context => Task.Delay(Timeout.Infinite, context.RequestAborted)),
            HttpProtocols.Http2);
        var config = new ProxyConfig()
            .Cluster("capped", stalled.Address, http2: true).Route("capped", "capped")
            .ClusterPolicy("capped", "Timeouts", new JsonObject { ["MaxGrpcTimeout"] = "00:00:00.300" });
        await using var capped = await RunningProxy.StartAsync(config);
        var timeout = await CallAsync(new { method = "unary", message = "late", deadlineMs = 30_000 }, capped);
        Assert.Equal((4, "upstream request timeout"), (timeout.Code, timeout.Details));

        var empty = new ProxyConfig().DiscoveryCluster("empty", "empty", $"http://127.0.0.1:{ProxyProcess.FreePort()}").Route("empty", "empty");
        await using var noHost = await RunningProxy.StartAsync(empty);
        var unavailable = await CallAsync(new { method = "unary", message = "anyone?" }, noHost);
        Assert.Equal((14, "no healthy upstream"), (unavailable.Code, unavailable.Details));
    }

    [Fact]
    public async Task A_stream_idle_longer_than_the_stream_idle_timeout_is_reset()
    {
        await using var idle = await RunningProxy.StartAsync(new ProxyConfig()
            .Cluster("node", node.ServerAddress, http2: true).Route("node", "node")
            .ClusterPolicy("node", "Timeouts", new JsonObject { ["StreamIdle"] = "00:00:01" }));
        // The upstream pauses 15 s between messages: the 1 s idle timeout must end the call long before, even on a
        // loaded machine where timers fire seconds late (a 5 s pause was once outlasted there).
        var result = await CallAsync(new { method = "serverStream", message = "m", count = 3, delayMs = 15_000 }, idle);
        Assert.NotEqual(0, result.Code);
        Assert.Single(result.Replies);
        Assert.True(result.ElapsedMs < 15_000, $"ended after {result.ElapsedMs} ms");
    }

    [Fact]
    public async Task A_malformed_grpc_timeout_is_answered_internal_as_grpc_servers_do_without_reaching_the_upstream()
    {
        using var client = Clients.H2c(_proxy.Ingress);
        using var request = client.Request(HttpMethod.Post, "/proxymesh.test.Echo/Unary");
        request.Content = new ByteArrayContent([0, 0, 0, 0, 0]);
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TryAddWithoutValidation("grpc-timeout", "soon");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("13", Assert.Single(response.Headers.GetValues("grpc-status")));
        Assert.Equal("malformed grpc-timeout header", Assert.Single(response.Headers.GetValues("grpc-message")));
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Grpc_requests_go_upstream_with_te_trailers_even_when_the_caller_sent_none()
    {
        string? te = null;
        await using var upstream = await Backend.StartAsync(
            app => app.Run(context =>
            {
                te = context.Request.Headers["te"];
                context.Response.ContentType = "application/grpc";
                context.Response.AppendTrailer("grpc-status", "0");
                return Task.CompletedTask;
            }),
            HttpProtocols.Http2);
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("raw", upstream.Address, http2: true).Route("raw", "raw"));
        using var client = Clients.H2c(proxy.Ingress);
        using var request = client.Request(HttpMethod.Post, "/proxymesh.test.Echo/Unary");
        request.Content = new ByteArrayContent([0, 0, 0, 0, 0]);
        request.Content.Headers.ContentType = new("application/grpc");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("trailers", te);
    }
}
