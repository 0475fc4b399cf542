using System.Diagnostics;
using System.Net;
using HdrHistogram;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>Latency percentiles at a fixed rate, in microseconds.</summary>
internal sealed record Latency(double P50, double P99, double P999, long Requests, long Errors);

/// <summary>
/// An open-loop generator: requests are due at a fixed rate whatever the answers do, and each latency is measured
/// from when its request was due, not when it was sent — so a stall shows up in every request it delayed
/// (coordinated omission corrected, as wrk2 does). No packaged tool here reports P99.9 at a fixed rate.
/// </summary>
internal static class OpenLoop
{
    public static async Task<Latency> RunAsync(Uri url, int rate, TimeSpan duration)
    {
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 256,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var histogram = new LongConcurrentHistogram(1, TimeSpan.FromSeconds(60).Ticks / 10, 3); // microseconds
        long errors = 0;
        var total = (long)(rate * duration.TotalSeconds);
        var inFlight = new List<Task>((int)Math.Min(total, 1_000_000));
        var clock = Stopwatch.StartNew();
        for (long i = 0; i < total; i++)
        {
            var due = TimeSpan.FromTicks(i * TimeSpan.TicksPerSecond / rate);
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait);
            }

            inFlight.Add(SendAsync(due));
        }

        await Task.WhenAll(inFlight);
        return new Latency(
            histogram.GetValueAtPercentile(50), histogram.GetValueAtPercentile(99), histogram.GetValueAtPercentile(99.9), histogram.TotalCount, errors);

        async Task SendAsync(TimeSpan due)
        {
            try
            {
                using var response = await client.GetAsync(url, HttpCompletionOption.ResponseContentRead);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref errors);
                }
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref errors);
            }
            catch (TaskCanceledException)
            {
                Interlocked.Increment(ref errors);
            }

            histogram.RecordValue(Math.Max(1, (clock.Elapsed - due).Ticks / 10));
        }
    }
}
