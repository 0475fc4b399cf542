using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// HTTP/2 stream limits on both sides: a client that opens more streams than the listener's
/// <c>ProxyMesh:Limits:MaxConcurrentStreams</c> has the excess refused (<c>REFUSED_STREAM</c>, never forwarded) while
/// its other streams and other connections are served; an upstream that allows one stream per connection gets more
/// connections (YARP's <c>EnableMultipleHttp2Connections</c>, as Envoy's pool honours the peer's SETTINGS), or, with
/// that switched off, a queue — no request is lost either way.
/// </summary>
public sealed class Http2StreamLimitTests
{
    private const uint RefusedStream = 0x7;

    [Fact]
    public async Task Streams_over_the_listener_limit_are_refused_and_the_rest_served()
    {
        await using var upstream = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", upstream.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Limits"] = new JsonObject { ["MaxConcurrentStreams"] = 4 };
        await using var proxy = await RunningProxy.StartAsync(config);

        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(proxy.Ingress.Host, proxy.Ingress.Port);
        var stream = client.GetStream();
        var frames = new MemoryStream();
        frames.Write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8);
        frames.Write(RawHttp2.Settings());
        int[] ids = [1, 3, 5, 7, 9];
        foreach (var id in ids)
        {
            frames.Write(RawHttp2.GetRequest(id, "http", proxy.Ingress.Authority, "/hold"));
        }

        await stream.WriteAsync(frames.ToArray());
        var reading = RawHttp2.ReadStreamsAsync(stream, 9);
        var refused = await reading.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(RefusedStream, refused[9].ResetCode);
        await upstream.WaitForHeldAsync(4);

        using var other = Clients.H2c(proxy.Ingress);
        Assert.Equal("ok", await other.GetStringAsync("/fine"));

        upstream.Open();
        var answered = await RawHttp2.ReadStreamsAsync(stream, 1, 3, 5, 7);
        foreach (var id in (int[])[1, 3, 5, 7])
        {
            Assert.Null(answered[id].ResetCode);
            Assert.Equal("ok", Encoding.ASCII.GetString(answered[id].Body));
        }

        Assert.Equal(4, upstream.Held);
    }

    [Fact]
    public async Task The_default_stream_limit_is_100()
    {
        await using var upstream = await GatedBackend.StartAsync();
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("app", upstream.Address).Route("app", "app"));

        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(proxy.Ingress.Host, proxy.Ingress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        await stream.WriteAsync(RawHttp2.Settings());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var frame = await RawHttp2.ReadFrameAsync(stream).WaitAsync(timeout.Token);
            if (frame.Type != RawHttp2.SettingsType || (frame.Flags & 0x1) != 0)
            {
                continue;
            }

            // SETTINGS_MAX_CONCURRENT_STREAMS (0x3) among the 6-byte settings of the server's first SETTINGS frame.
            for (var i = 0; i + 6 <= frame.Payload.Length; i += 6)
            {
                if (frame.Payload[i] == 0 && frame.Payload[i + 1] == 3)
                {
                    Assert.Equal(100u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame.Payload.AsSpan(i + 2)));
                    return;
                }
            }

            Assert.Fail("the proxy's SETTINGS carry no SETTINGS_MAX_CONCURRENT_STREAMS");
        }
    }

    [Theory]
    [InlineData(true, 4)]
    [InlineData(false, 1)]
    public async Task An_upstream_allowing_one_stream_gets_more_connections_or_a_queue_and_loses_nothing(bool multipleConnections, int expectedConcurrency)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var current = 0;
        var highest = 0;
        var arrived = 0;
        await using var upstream = await Backend.StartAsync(
            app => app.Run(async context =>
            {
                var now = Interlocked.Increment(ref current);
                InterlockedMax(ref highest, now);
                Interlocked.Increment(ref arrived);
                await gate.Task.WaitAsync(context.RequestAborted);
                Interlocked.Decrement(ref current);
                await context.Response.WriteAsync("ok");
            }),
            HttpProtocols.Http2,
            services => services.Configure<KestrelServerOptions>(kestrel => kestrel.Limits.Http2.MaxStreamsPerConnection = 1));
        var config = new ProxyConfig().Cluster("app", upstream.Address, http2: true).Route("app", "app");
        if (!multipleConnections)
        {
            config.Clusters["app"]!["HttpClient"] = new JsonObject { ["EnableMultipleHttp2Connections"] = false };
        }

        await using var proxy = await RunningProxy.StartAsync(config);
        var clients = Enumerable.Range(0, 4).Select(_ => Clients.Http1(proxy.Ingress)).ToList();
        var calls = clients.Select(client => client.GetStringAsync("/call")).ToList();

        await Eventually.AssertAsync(() => Task.FromResult(Volatile.Read(ref arrived) >= expectedConcurrency), $"{expectedConcurrency} calls at the upstream");
        gate.SetResult();
        var answers = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.All(answers, answer => Assert.Equal("ok", answer));
        Assert.Equal(4, Volatile.Read(ref arrived));
        Assert.Equal(expectedConcurrency, Volatile.Read(ref highest));
        // Before the upstream's SETTINGS arrive the client may try a stream it then has refused and retries elsewhere, so
        // "more connections" is at least one per concurrent call, not exactly one.
        var connections = await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_total", "cluster=\"app\"");
        Assert.True(multipleConnections ? connections >= 4 : connections == 1, $"{connections} upstream connections");
        clients.ForEach(client => client.Dispose());
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen && Interlocked.CompareExchange(ref target, value, seen) is var actual && actual != seen)
        {
            seen = actual;
        }
    }
}
