using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Hostile HTTP/2 (h2c on the shared HTTP/1.1 port) from raw frames: the attacking connection is answered or ended,
/// the proxy keeps running, and a well-behaved h2c client on another connection is served during and after.
/// </summary>
public sealed class HostileHttp2Tests : IAsyncLifetime
{
    private const byte ContinuationType = 0x9;
    private const byte PingType = 0x6;
    private static readonly byte[] Preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    private readonly ConcurrentQueue<string> _upstreamSaw = new();
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartAsync(app => app.Run(context =>
        {
            _upstreamSaw.Enqueue(context.Request.Path);
            return context.Response.WriteAsync("ok");
        }));
        _proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app"));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    /// <summary>An attacking connection: preface and SETTINGS sent, every frame the proxy sends read and remembered.</summary>
    private sealed class Attacker : IAsyncDisposable
    {
        private readonly TcpClient _client = new() { NoDelay = true };
        private Task _reading = Task.CompletedTask;

        public NetworkStream Stream { get; private set; } = null!;

        public uint? GoAwayCode { get; private set; }

        public int Frames;

        public ConcurrentQueue<(byte Type, int StreamId)> Seen { get; } = new();

        public bool Closed { get; private set; }

        public static async Task<Attacker> ConnectAsync(Uri proxy, bool sendPreface = true)
        {
            var attacker = new Attacker();
            await attacker._client.ConnectAsync(proxy.Host, proxy.Port);
            attacker.Stream = attacker._client.GetStream();
            if (sendPreface)
            {
                await attacker.Stream.WriteAsync(Preface);
                await attacker.Stream.WriteAsync(RawHttp2.Settings());
            }

            attacker._reading = attacker.ReadAsync();
            return attacker;
        }

        private async Task ReadAsync()
        {
            try
            {
                while (true)
                {
                    var frame = await RawHttp2.ReadFrameAsync(Stream);
                    Interlocked.Increment(ref Frames);
                    Seen.Enqueue((frame.Type, frame.StreamId));
                    if (frame.Type == RawHttp2.GoAwayType)
                    {
                        GoAwayCode = BinaryPrimitives.ReadUInt32BigEndian(frame.Payload.AsSpan(4));
                    }
                }
            }
            catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException or SocketException)
            {
                Closed = true;
            }
        }

        /// <summary>Writes, tolerating the proxy having closed the connection already (that is a valid defence).</summary>
        public async Task SendAsync(byte[] bytes)
        {
            try
            {
                await Stream.WriteAsync(bytes);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                Closed = true;
            }
        }

        public Task<bool> EndedAsync() => Eventually.TrueAsync(() => Task.FromResult(Closed || GoAwayCode is not null));

        public async ValueTask DisposeAsync()
        {
            _client.Dispose();
            await _reading;
        }
    }

    private async Task AWellBehavedClientIsServedAsync()
    {
        using var client = Clients.H2c(_proxy.Ingress);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("ok", await client.GetStringAsync("/fine"));
        }
    }

    private string Authority => _proxy.Ingress.Authority;

    [Fact]
    public async Task Rapid_reset_leaves_the_proxy_serving_others()
    {
        await using var attacker = await Attacker.ConnectAsync(_proxy.Ingress);
        var rst = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(rst, 0x8); // CANCEL
        var served = AWellBehavedClientIsServedAsync();
        for (var batch = 0; batch < 50 && !attacker.Closed; batch++)
        {
            using var frames = new MemoryStream();
            for (var i = 0; i < 100; i++)
            {
                var streamId = 1 + (2 * ((batch * 100) + i));
                frames.Write(RawHttp2.GetRequest(streamId, "http", Authority, "/reset"));
                frames.Write(RawHttp2.Frame(RawHttp2.RstStreamType, 0, streamId, rst));
            }

            await attacker.SendAsync(frames.ToArray());
        }

        await served;
        await AWellBehavedClientIsServedAsync();
    }

    [Fact]
    public async Task A_CONTINUATION_flood_ends_the_connection()
    {
        await using var attacker = await Attacker.ConnectAsync(_proxy.Ingress);
        var first = RawHttp2.GetRequest(1, "http", Authority, "/flood");
        first[4] = 0x1; // END_STREAM without END_HEADERS: CONTINUATION frames follow
        await attacker.SendAsync(first);
        var filler = new List<byte>();
        for (var i = 0; i < 8; i++)
        {
            filler.Add(0x00);
            filler.Add(10);
            filler.AddRange(Encoding.ASCII.GetBytes($"x-flood-{i:00}"));
            filler.Add(100);
            filler.AddRange(Enumerable.Repeat((byte)'v', 100));
        }

        var continuation = RawHttp2.Frame(ContinuationType, 0, 1, filler.ToArray());
        for (var i = 0; i < 2000 && !attacker.Closed; i++)
        {
            await attacker.SendAsync(continuation);
        }

        Assert.True(await attacker.EndedAsync(), "the flooding connection was ended");
        await AWellBehavedClientIsServedAsync();
    }

    [Fact]
    public async Task An_HPACK_bomb_is_refused_without_decoding_it_in_full()
    {
        await using var attacker = await Attacker.ConnectAsync(_proxy.Ingress);
        var block = new List<byte>(RawHttp2.GetRequest(1, "http", Authority, "/bomb").Skip(9));
        block.Add(0x40); // literal with incremental indexing: a 4,000-byte entry in the dynamic table
        block.Add(6);
        block.AddRange("x-bomb"u8.ToArray());
        block.AddRange(new byte[] { 0x7F, 0xA1, 0x1E }); // length 4000
        block.AddRange(Enumerable.Repeat((byte)'b', 4000));
        block.AddRange(Enumerable.Repeat((byte)0xBE, 4000)); // that entry referenced 4,000 times: 16 MB decoded
        await attacker.SendAsync(RawHttp2.Frame(RawHttp2.HeadersType, 0x1 | 0x4, 1, block.ToArray()));

        Assert.True(
            await Eventually.TrueAsync(() => Task.FromResult(attacker.Closed || attacker.GoAwayCode is not null || attacker.Seen.Any(frame => frame.StreamId == 1))),
            "the proxy answered the stream or ended the connection");
        Assert.DoesNotContain("/bomb", _upstreamSaw);
        await AWellBehavedClientIsServedAsync();
    }

    [Theory]
    [InlineData(PingType)]
    [InlineData(RawHttp2.SettingsType)]
    public async Task PING_and_SETTINGS_floods_leave_the_proxy_serving_others(byte type)
    {
        await using var attacker = await Attacker.ConnectAsync(_proxy.Ingress);
        var frame = RawHttp2.Frame(type, 0, 0, type == PingType ? new byte[8] : []);
        using var frames = new MemoryStream();
        for (var i = 0; i < 1000; i++)
        {
            frames.Write(frame);
        }

        var batch = frames.ToArray();
        for (var i = 0; i < 20 && !attacker.Closed; i++)
        {
            await attacker.SendAsync(batch);
        }

        await AWellBehavedClientIsServedAsync();
    }

    [Fact]
    public async Task A_preface_split_into_single_bytes_is_still_h2c()
    {
        await using var attacker = await Attacker.ConnectAsync(_proxy.Ingress, sendPreface: false);
        foreach (var b in Preface)
        {
            await attacker.SendAsync([b]);
            await attacker.Stream.FlushAsync();
        }

        await attacker.SendAsync(RawHttp2.Settings());
        await attacker.SendAsync(RawHttp2.GetRequest(1, "http", Authority, "/split"));
        Assert.True(await Eventually.TrueAsync(() => Task.FromResult(attacker.Frames >= 2)), "HTTP/2 frames back");
    }

    /// <summary>
    /// Not a preface, so HTTP/1.1 reads it; Kestrel recognises an HTTP/2 client on an HTTP/1.1 connection and ends it
    /// with a GOAWAY of HTTP_1_1_REQUIRED.
    /// </summary>
    [Fact]
    public async Task A_bogus_preface_is_read_as_HTTP1_and_refused()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(_proxy.Ingress.Host, _proxy.Ingress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"));
        var frame = await RawHttp2.ReadFrameAsync(stream).WaitAsync(TimeSpan.FromSeconds(15));

        Assert.Equal(RawHttp2.GoAwayType, frame.Type);
        Assert.Equal(0xDu, BinaryPrimitives.ReadUInt32BigEndian(frame.Payload.AsSpan(4))); // HTTP_1_1_REQUIRED
        Assert.Equal(0, await stream.ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(15)));
        await AWellBehavedClientIsServedAsync();
    }
}
