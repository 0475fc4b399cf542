using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc;

/// <summary>gRPC through the proxy: every call kind, statuses and trailers, deadlines and cancellation end to end.</summary>
public sealed class GrpcProxyTests : IAsyncLifetime
{
    private readonly CancellationObserver _cancellations = new();
    private Backend _upstream = null!;
    private RunningProxy _proxy = null!;
    private GrpcChannel _channel = null!;
    private Echo.EchoClient _client = null!;

    public async Task InitializeAsync()
    {
        _upstream = await Backend.StartAsync(
            app => app.MapGrpcService<EchoService>(),
            HttpProtocols.Http2,
            services => services.AddGrpc().Services.AddSingleton(_cancellations));
        _proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("echo", _upstream.Address, http2: true).Route("grpc", "echo"));
        _channel = GrpcChannel.ForAddress(_proxy.Ingress, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { UseProxy = false } });
        _client = new Echo.EchoClient(_channel);
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Fact]
    public async Task Unary_call_passes_through()
    {
        using var call = _client.UnaryAsync(new EchoRequest { Message = "hi" });
        var reply = await call;
        Assert.Equal("hi", reply.Message);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Server_streaming_call_passes_every_message()
    {
        using var call = _client.ServerStream(new EchoRequest { Message = "m", Count = 5 });
        var messages = await call.ResponseStream.ReadAllAsync().Select(reply => reply.Message).ToListAsync();
        Assert.Equal(["m 0", "m 1", "m 2", "m 3", "m 4"], messages);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Client_streaming_call_passes_every_message()
    {
        using var call = _client.ClientStream();
        foreach (var message in new[] { "a", "b", "c" })
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Message = message });
        }

        await call.RequestStream.CompleteAsync();
        Assert.Equal("a,b,c", (await call).Message);
    }

    [Fact]
    public async Task Bidirectional_streaming_call_interleaves_requests_and_replies()
    {
        using var call = _client.Bidi();
        foreach (var message in new[] { "x", "y", "z" })
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Message = message });
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(message.ToUpperInvariant(), call.ResponseStream.Current.Message);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Theory]
    [InlineData(StatusCode.InvalidArgument)]
    [InlineData(StatusCode.NotFound)]
    [InlineData(StatusCode.PermissionDenied)]
    [InlineData(StatusCode.ResourceExhausted)]
    [InlineData(StatusCode.Internal)]
    [InlineData(StatusCode.Unavailable)]
    [InlineData(StatusCode.Unauthenticated)]
    public async Task Error_status_message_and_trailers_arrive_unchanged(StatusCode status)
    {
        using var call = _client.UnaryAsync(new EchoRequest { FailWithStatus = (int)status });
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(status, error.StatusCode);
        Assert.Equal($"failing with {(int)status} as asked", error.Status.Detail);
        Assert.Equal("requested by test", error.Trailers.GetValue("x-failure-detail"));
    }

    [Fact]
    public async Task Error_after_streamed_messages_arrives_in_trailers()
    {
        using var call = _client.Bidi();
        await call.RequestStream.WriteAsync(new EchoRequest { Message = "ok" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        await call.RequestStream.WriteAsync(new EchoRequest { Message = "bad", FailWithStatus = (int)StatusCode.FailedPrecondition });
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal("requested by test", call.GetTrailers().GetValue("x-failure-detail"));
    }

    [Fact]
    public async Task Deadline_reaches_the_upstream()
    {
        var reply = await _client.UnaryAsync(new EchoRequest { Message = "d" }, deadline: DateTime.UtcNow.AddSeconds(20));
        Assert.InRange(reply.DeadlineSeconds, 10, 20);

        var noDeadline = await _client.UnaryAsync(new EchoRequest { Message = "none" });
        Assert.Equal(-1, noDeadline.DeadlineSeconds);
    }

    [Fact]
    public async Task Deadline_exceeded_cancels_the_upstream_call()
    {
        // A first call warms the path: cold, the 500 ms could pass before the call ever reaches the upstream.
        await _client.UnaryAsync(new EchoRequest { Message = "warm-up" });
        using var call = _client.ServerStream(new EchoRequest { Message = "deadline", Count = 0 }, deadline: DateTime.UtcNow.AddMilliseconds(500));
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync())
            {
            }
        });
        // Three timers end the call at the same moment: the client's own (DEADLINE_EXCEEDED), the proxy's and the
        // upstream's from the forwarded grpc-timeout (the upstream resets its stream, which reaches the client as INTERNAL).
        Assert.True(error.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Cancelled, error.ToString());
        await Eventually.AssertAsync(() => Task.FromResult(_cancellations.WasCancelled("deadline")), "the upstream saw the call cancelled");
    }

    [Fact]
    public async Task Client_cancellation_reaches_the_upstream()
    {
        using var cancel = new CancellationTokenSource();
        using var call = _client.ServerStream(new EchoRequest { Message = "cancel", Count = 0 }, cancellationToken: cancel.Token);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        }

        await cancel.CancelAsync();
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await Eventually.AssertAsync(() => Task.FromResult(_cancellations.WasCancelled("cancel")), "the upstream saw the call cancelled");
    }
}
