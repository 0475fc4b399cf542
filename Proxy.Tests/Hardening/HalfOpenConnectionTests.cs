using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Half-open connections on real sockets. A client that stops reading or half-closes costs its upstream request,
/// released within the configured limits; an upstream that half-closes mid-response, or never finishes, gives the
/// client a failed read, never a short body that looks complete.
/// </summary>
public sealed class HalfOpenConnectionTests : IAsyncLifetime
{
    private readonly string _log = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _started = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _released = new(StringComparer.Ordinal);
    private Backend _backend = null!;
    private TcpPeer _finAfterHeaders = null!;
    private TcpPeer _finMidChunk = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_log)!);
        _backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            var id = context.Request.Headers["x-request-id"].ToString();
            var released = Signal(_released, id);
            context.RequestAborted.Register(() => released.TrySetResult());
            context.Response.Headers["x-backend"] = "kestrel";
            if (context.Request.Path == "/ping")
            {
                await context.Response.WriteAsync("pong");
                return;
            }

            try
            {
                var chunk = new byte[16 * 1024];
                if (context.Request.Path == "/stream")
                {
                    Signal(_started, id).TrySetResult();
                    while (true)
                    {
                        await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    }
                }

                // "/hold": a kilobyte of a promised 100 KB, then nothing.
                context.Response.ContentLength = 100_000;
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, 1000), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                Signal(_started, id).TrySetResult();
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // Released by the proxy: what the tests wait for.
            }
        }), Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1);

        _finAfterHeaders = TcpPeer.Start((socket, cancellationToken) => AnswerThenHalfCloseAsync(
            socket, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + new string('a', 1000), cancellationToken));
        _finMidChunk = TcpPeer.Start((socket, cancellationToken) => AnswerThenHalfCloseAsync(
            socket, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + new string('b', 1000) + "\r\n", cancellationToken));

        var config = new ProxyConfig()
            .Cluster("kestrel", _backend.Address).Route("kestrel", "kestrel", "/{**rest}")
            .Cluster("idle", _backend.Address).Route("idle", "idle", "/idle/{**rest}")
            .Cluster("fin-length", $"http://127.0.0.1:{_finAfterHeaders.Port}").Route("fin-length", "fin-length", "/fin-length")
            .Cluster("fin-chunked", $"http://127.0.0.1:{_finMidChunk.Port}").Route("fin-chunked", "fin-chunked", "/fin-chunked")
            .ClusterPolicy("idle", "Timeouts", new JsonObject { ["StreamIdle"] = "00:00:01" })
            .Defaults("Retry", new JsonObject { ["NumRetries"] = 0 });
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = _log };
        config.Root["ProxyMesh"]!["Limits"] = new JsonObject
        {
            // Kestrel allows a stalled write the grace period plus the bytes already buffered (up to megabytes of
            // socket buffers here) at this rate: a high rate keeps the test short.
            ["MinResponseBodyBytesPerSecond"] = 1_000_000,
            ["MinResponseBodyGracePeriod"] = "00:00:02",
        };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
        await _finAfterHeaders.DisposeAsync();
        await _finMidChunk.DisposeAsync();
        File.Delete(_log);
    }

    private static TaskCompletionSource Signal(ConcurrentDictionary<string, TaskCompletionSource> signals, string id) =>
        signals.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Reads the request, sends <paramref name="answer"/>, half-closes (FIN), and keeps reading: the socket stays open.</summary>
    private static async Task AnswerThenHalfCloseAsync(Socket socket, string answer, CancellationToken cancellationToken)
    {
        var seen = new StringBuilder();
        var buffer = new byte[4096];
        while (!seen.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return;
            }

            seen.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        await TcpPeer.SendAllAsync(socket, Encoding.ASCII.GetBytes(answer), cancellationToken);
        socket.Shutdown(SocketShutdown.Send);
        while (await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken) > 0)
        {
        }
    }

    /// <summary>A raw client: connects with a small receive buffer and sends a GET with the given request id.</summary>
    private async Task<Socket> RawGetAsync(string path, string id)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(_proxy.Ingress.Host, _proxy.Ingress.Port);
        await TcpPeer.SendAllAsync(socket, Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: a\r\nx-request-id: {id}\r\n\r\n"));
        return socket;
    }

    private async Task<JsonElement> EntryAsync(string id)
    {
        JsonElement found = default;
        await Eventually.AssertAsync(
            () => Task.FromResult(AccessLogFile.Read(_log).Any(entry => (found = entry).GetProperty("request_id").GetString() == id)),
            $"an access log entry for {id}");
        return found;
    }

    private async Task AWellBehavedClientIsServedAsync()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        Assert.Equal("pong", await client.GetStringAsync("/ping"));
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_cut_off_by_the_response_data_rate_and_its_upstream_released()
    {
        var id = Guid.NewGuid().ToString();
        using var client = await RawGetAsync("/stream", id);
        await Signal(_started, id).Task.WaitAsync(TimeSpan.FromSeconds(15));
        await AWellBehavedClientIsServedAsync();

        // The client never reads: the proxy's writes stall, Kestrel's minimum response rate ends the connection, and
        // the upstream request is cancelled with it.
        await Signal(_released, id).Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("DC", (await EntryAsync(id)).GetProperty("response_flags").GetString());
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_active", "cluster=\"kestrel\"", 0);
        await AWellBehavedClientIsServedAsync();
    }

    [Fact]
    public async Task A_client_that_half_closes_while_waiting_releases_its_upstream_request_at_once()
    {
        var id = Guid.NewGuid().ToString();
        using var client = await RawGetAsync("/hold", id);
        await Signal(_started, id).Task.WaitAsync(TimeSpan.FromSeconds(15));

        client.Shutdown(SocketShutdown.Send);

        // Like Envoy without half-close support, a client FIN ends the request: no idle timeout needs to expire.
        await Signal(_released, id).Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("DC", (await EntryAsync(id)).GetProperty("response_flags").GetString());
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_active", "cluster=\"kestrel\"", 0);
        await AWellBehavedClientIsServedAsync();
    }

    [Theory]
    [InlineData("/fin-length", false)]
    [InlineData("/fin-length", true)]
    [InlineData("/fin-chunked", false)]
    [InlineData("/fin-chunked", true)]
    public async Task An_upstream_that_half_closes_mid_response_is_a_failed_read_for_the_client_and_flagged_UC(string path, bool http2)
    {
        var id = Guid.NewGuid().ToString();
        var (failure, got) = await ReadWholeResponseAsync(path, http2, id);
        Assert.True(failure is HttpRequestException or HttpIOException or IOException, $"the client saw the failure, got {failure?.GetType().Name ?? "a complete body"}: {got}");
        Assert.Equal("UC", (await EntryAsync(id)).GetProperty("response_flags").GetString());
        await AWellBehavedClientIsServedAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_upstream_that_never_finishes_is_cut_by_the_stream_idle_timeout_and_the_client_sees_a_failed_read(bool http2)
    {
        var id = Guid.NewGuid().ToString();
        var (failure, got) = await ReadWholeResponseAsync("/idle/hold", http2, id);
        Assert.True(failure is HttpRequestException or HttpIOException or IOException, $"the client saw the failure, got {failure?.GetType().Name ?? "a complete body"}: {got}");
        await Signal(_released, id).Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("SI", (await EntryAsync(id)).GetProperty("response_flags").GetString());
    }

    /// <returns>What reading the response threw (null when it completed), and a description of what arrived.</returns>
    private async Task<(Exception? Failure, string Got)> ReadWholeResponseAsync(string path, bool http2, string id)
    {
        using var client = http2 ? Clients.H2c(_proxy.Ingress) : Clients.Http1(_proxy.Ingress);
        client.Timeout = TimeSpan.FromSeconds(30);
        using var request = client.Request(HttpMethod.Get, path);
        request.Headers.Add("x-request-id", id);
        var got = "";
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            got = $"{(int)response.StatusCode} with {response.Content.Headers.ContentLength} declared";
            got += $", {(await response.Content.ReadAsByteArrayAsync()).Length} bytes";
        });
        return (failure, got);
    }
}
