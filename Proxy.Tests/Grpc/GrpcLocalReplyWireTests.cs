using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience;

namespace ProxyMesh.Proxy.Tests.Grpc;

/// <summary>
/// The proxy's own answers to gRPC calls, read frame by frame by a non-.NET HTTP/2 client: a trailers-only response —
/// one HEADERS frame with <c>:status 200</c>, <c>content-type application/grpc</c>, <c>grpc-status</c> and END_STREAM,
/// no DATA — as the gRPC over HTTP/2 spec requires of a call that fails before any message.
/// </summary>
public sealed class GrpcLocalReplyWireTests
{
    private const string UnaryPath = "/proxymesh.test.Echo/Unary";

    private static void AssertTrailersOnly(RawGrpcResponse response, int grpcStatus, string message)
    {
        Assert.Equal("200", response.Header(":status"));
        Assert.StartsWith("application/grpc", response.Header("content-type"), StringComparison.Ordinal);
        Assert.Equal(grpcStatus.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Header("grpc-status"));
        Assert.Contains(message, response.Header("grpc-message") ?? "", StringComparison.Ordinal);
        Assert.True(response.EndStreamOnHeaders, "END_STREAM was not on the HEADERS frame");
        Assert.Equal(0, response.DataBytes);
        Assert.Null(response.Trailers);
        Assert.Null(response.ResetCode);
    }

    [Fact]
    public async Task A_circuit_breaker_overflow_is_a_trailers_only_unavailable()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo")
            .ClusterPolicy("echo", "CircuitBreakers", new JsonObject { ["MaxRequests"] = 1 });
        await using var proxy = await RunningProxy.StartAsync(config);
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        using var held = new Echo.EchoClient(channel).ServerStream(new EchoRequest { Message = "held", Count = 0 });
        Assert.True(await held.ResponseStream.MoveNext(CancellationToken.None));

        var response = Assert.Single(await RawGrpcCall.SendAsync(proxy.Ingress, new RawGrpcCall.Request(UnaryPath, RawGrpcCall.EchoRequest("over"))));
        AssertTrailersOnly(response, 14, "overflow");
    }

    [Fact]
    public async Task A_rate_limited_call_is_a_trailers_only_resource_exhausted()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo")
            .Defaults("RateLimit", new JsonObject { ["Enabled"] = true, ["MaxTokens"] = 1, ["TokensPerFill"] = 1, ["FillInterval"] = "01:00:00" });
        await using var proxy = await RunningProxy.StartAsync(config);

        var responses = await RawGrpcCall.SendAsync(
            proxy.Ingress,
            new RawGrpcCall.Request(UnaryPath, RawGrpcCall.EchoRequest("one")),
            new RawGrpcCall.Request(UnaryPath, RawGrpcCall.EchoRequest("two")));

        // The first passes as a normal call (a message, then trailers); the second is the proxy's own answer.
        Assert.False(responses[0].EndStreamOnHeaders);
        Assert.True(responses[0].DataBytes > 0);
        Assert.Equal("0", responses[0].Trailers!.Single(pair => pair.Key == "grpc-status").Value);
        AssertTrailersOnly(responses[1], 8, "");
    }

    [Fact]
    public async Task A_deadline_timeout_is_a_trailers_only_deadline_exceeded()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo")
            .ClusterPolicy("echo", "Timeouts", new JsonObject { ["Route"] = "00:01:00", ["MaxGrpcTimeout"] = "00:00:00.300" });
        await using var proxy = await RunningProxy.StartAsync(config);

        var response = Assert.Single(await RawGrpcCall.SendAsync(
            proxy.Ingress,
            new RawGrpcCall.Request(UnaryPath, RawGrpcCall.EchoRequest("late", delayMs: 30_000), ("grpc-timeout", "60S"))));
        AssertTrailersOnly(response, 4, "upstream request timeout");
    }

    [Fact]
    public async Task No_healthy_upstream_is_a_trailers_only_unavailable()
    {
        var config = new ProxyConfig().DiscoveryCluster("empty", "empty", $"http://127.0.0.1:{ProxyProcess.FreePort()}").Route("empty", "empty");
        await using var proxy = await RunningProxy.StartAsync(config);

        var response = Assert.Single(await RawGrpcCall.SendAsync(proxy.Ingress, new RawGrpcCall.Request(UnaryPath, RawGrpcCall.EchoRequest("anyone?"))));
        AssertTrailersOnly(response, 14, "no healthy upstream");
    }
}
