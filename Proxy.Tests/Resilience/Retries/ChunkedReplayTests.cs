using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>
/// Replay of chunked request bodies (no Content-Length, so the proxy learns the size only as the body arrives) around
/// <c>Retry:MaxReplayBytes</c>: up to the limit the body is kept and replayed to the next host; past it, no retry is made
/// and the abandoned retry is counted (Envoy's <c>retry_or_shadow_abandoned</c>).
/// </summary>
public sealed class ChunkedReplayTests : IAsyncLifetime
{
    private const int Limit = 20_000;
    private const string Cluster = "cluster=\"app\"";
    private readonly TaskCompletionSource _firstPartReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Backend _failing = null!;
    private Backend _good = null!;
    private RunningProxy _proxy = null!;
    private int _failingRequests;
    private int _chunkedRequests;

    public async Task InitializeAsync()
    {
        // Reads the whole body, noting when the first part has arrived, then answers 503.
        _failing = await Backend.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref _failingRequests);
            if (context.Request.ContentLength is null && context.Request.Headers.TransferEncoding.ToString().Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                Interlocked.Increment(ref _chunkedRequests);
            }

            var buffer = new byte[8192];
            var total = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                total += read;
                if (total >= FirstPart)
                {
                    _firstPartReceived.TrySetResult();
                }
            }

            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync("failed");
        }));
        _good = await Backend.StartEchoAsync("good");
        var config = new ProxyConfig().Cluster("app", [_failing.Address, _good.Address]).Route("app", "app");
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        config.Root["ProxyMesh"]!["Clusters"] = new JsonObject
        {
            ["app"] = new JsonObject { ["Retry"] = new JsonObject { ["MaxReplayBytes"] = Limit } },
        };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        _firstPartReceived.TrySetResult();
        await _proxy.DisposeAsync();
        await _failing.DisposeAsync();
        await _good.DisposeAsync();
    }

    private const int FirstPart = 15_000;

    /// <summary>A body without a length, written in parts with a flush after each: HTTP/1.1 sends it chunked.</summary>
    private sealed class ChunkedContent(params Func<Stream, Task>[] parts) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            foreach (var part in parts)
            {
                await part(stream);
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    private static Func<Stream, Task> Bytes(char fill, int count) => stream => stream.WriteAsync(Encoding.ASCII.GetBytes(new string(fill, count))).AsTask();

    private async Task<HttpResponseMessage> PutAsync(HttpContent content)
    {
        using var client = Clients.Http1(_proxy.Ingress);
        using var request = client.Request(HttpMethod.Put, "/work");
        request.Headers.TransferEncodingChunked = true;
        request.Content = content;
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    [Theory]
    [InlineData(10_000, true)] // below the limit
    [InlineData(Limit, true)] // exactly the limit: still kept whole
    [InlineData(Limit + 1, false)] // one byte over
    [InlineData(3 * Limit, false)]
    public async Task A_chunked_body_is_replayed_up_to_the_limit_and_never_past_it(int size, bool retried)
    {
        // In 4 KiB chunks, so the proxy sees the body grow.
        var parts = new List<Func<Stream, Task>>();
        for (var left = size; left > 0; left -= 4096)
        {
            parts.Add(Bytes('b', Math.Min(4096, left)));
        }

        using var response = await PutAsync(new ChunkedContent(parts.ToArray()));

        Assert.Equal(1, Volatile.Read(ref _failingRequests));
        Assert.Equal(1, Volatile.Read(ref _chunkedRequests));
        if (retried)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("good", response.Headers.GetValues("x-backend").Single());
            Assert.Equal(new string('b', size), await response.Content.ReadAsStringAsync());
            await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_retry_total", Cluster, 1);
            Assert.Equal(0, await MetricsScrape.ValueAsync(_proxy, "proxymesh_upstream_rq_retry_or_shadow_abandoned_total", Cluster));
        }
        else
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("failed", await response.Content.ReadAsStringAsync());
            await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_retry_or_shadow_abandoned_total", Cluster, 1);
            Assert.Equal(0, await MetricsScrape.ValueAsync(_proxy, "proxymesh_upstream_rq_retry_total", Cluster));
        }
    }

    [Fact]
    public async Task A_body_that_outgrows_the_limit_after_streaming_began_is_not_retried()
    {
        // The first part (under the limit) reaches the failing host before the rest is even written.
        using var response = await PutAsync(new ChunkedContent(
            Bytes('a', FirstPart),
            async _ => await _firstPartReceived.Task.WaitAsync(TimeSpan.FromSeconds(30)),
            Bytes('z', FirstPart)));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("failed", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, Volatile.Read(ref _failingRequests));
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_retry_or_shadow_abandoned_total", Cluster, 1);
        Assert.Equal(0, await MetricsScrape.ValueAsync(_proxy, "proxymesh_upstream_rq_retry_total", Cluster));
    }
}
