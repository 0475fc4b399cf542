using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// A sink that stops writing (a blocked pipe, a hung disk): the writer blocks in it, the bounded queue fills, and from
/// then on entries are dropped and counted — requests never wait for the access log.
/// </summary>
public sealed class AccessLogOverflowTests
{
    private const int QueueCapacity = 8;

    /// <summary>Blocks every write until released; counts the lines it was handed.</summary>
    private sealed class BlockedSink : IAccessLogSink
    {
        private readonly ManualResetEventSlim _release = new();
        private int _lines;

        public ManualResetEventSlim Entered { get; } = new();

        public int Lines => Volatile.Read(ref _lines);

        public void Write(ReadOnlySpan<byte> lines)
        {
            Entered.Set();
            _release.Wait();
            Interlocked.Add(ref _lines, lines.Count((byte)'\n'));
        }

        public void Release() => _release.Set();

        public void Dispose() => _release.Set();
    }

    [Fact]
    public async Task A_blocked_sink_fills_the_queue_then_lines_are_dropped_and_counted_while_requests_are_served_at_once()
    {
        await using var backend = await Backend.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")));
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["QueueCapacity"] = QueueCapacity };
        var sink = new BlockedSink();
        await using var proxy = await RunningProxy.StartAsync(config, services => services.AddSingleton<IAccessLogSink>(sink));
        try
        {
            using var client = Clients.Http1(proxy.Ingress);
            client.Timeout = TimeSpan.FromSeconds(30);

            // The first line reaches the sink, which holds the writer from now on.
            using (var first = await client.GetAsync("/first"))
            {
                Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            }

            Assert.True(sink.Entered.Wait(TimeSpan.FromSeconds(30)), "the writer reached the sink");

            // Every request is answered at once though no line can be written: a request that waited for the log
            // would hang until the sink is released (at the end of the test), far beyond this bound.
            const int Requests = 40;
            var slowest = TimeSpan.Zero;
            for (var i = 0; i < Requests; i++)
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await client.GetAsync($"/r{i}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("ok", await response.Content.ReadAsStringAsync());
                var elapsed = Stopwatch.GetElapsedTime(started);
                slowest = elapsed > slowest ? elapsed : slowest;
            }

            Assert.True(slowest < TimeSpan.FromSeconds(5), $"slowest request took {slowest.TotalMilliseconds} ms while the sink was blocked");

            // The queue holds QueueCapacity entries; every one after that is dropped and counted.
            await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_access_log_dropped_total", null, Requests - QueueCapacity);

            // Released, the writer writes what it holds and what was queued: nothing lost but the counted lines.
            sink.Release();
            await Eventually.AssertAsync(() => Task.FromResult(sink.Lines == 1 + QueueCapacity), "the held line and the queued ones are written");
            Assert.Equal(Requests - QueueCapacity, await MetricsScrape.RequiredAsync(proxy, "proxymesh_access_log_dropped_total"));
            using var after = await client.GetAsync("/after");
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
            await Eventually.AssertAsync(() => Task.FromResult(sink.Lines == 2 + QueueCapacity), "logging resumes once the sink writes again");
        }
        finally
        {
            sink.Release();
        }
    }
}
