using System.Diagnostics;
using System.Net;
using HdrHistogram;

namespace ProxyMesh.Bench.Soak;

/// <summary>What an open-loop phase saw; latencies in microseconds.</summary>
internal sealed record OpenLoopResult(
    string Phase,
    double OfferedRate,
    TimeSpan Elapsed,
    long Sent,
    long Accepted,
    long Shed,
    long ShedWithoutHeader,
    long Failed,
    LongConcurrentHistogram AcceptedFromDue,
    LongConcurrentHistogram AcceptedFromSend,
    LongConcurrentHistogram ShedFromSend,
    IReadOnlyList<string> Failures)
{
    public double ShedShare => Sent == 0 ? 0 : (double)Shed / Sent;
}

/// <summary>
/// Sends GET requests at a fixed rate whatever the answers do (open loop): every millisecond it sends all the
/// requests that have come due, each on its own task, over up to <see cref="MaxConnections"/> HTTP/1.1
/// connections. Answers are sorted into accepted (200), shed (503, and whether <c>x-envoy-overloaded: true</c> came
/// with it) and failed. Accepted latencies are kept both from when the request was due (coordinated omission
/// corrected: client-side queueing counts) and from when it was handed to the client.
/// </summary>
internal sealed class OpenLoopGenerator(Uri url, string phase) : IDisposable
{
    public const int MaxConnections = 1024;

    private readonly HttpClient client = new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = MaxConnections,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        Timeout = TimeSpan.FromSeconds(60),
    };

    public async Task<OpenLoopResult> RunAsync(double rate, TimeSpan duration)
    {
        var acceptedFromDue = NewHistogram();
        var acceptedFromSend = NewHistogram();
        var shedFromSend = NewHistogram();
        long accepted = 0, shed = 0, shedWithoutHeader = 0, failed = 0;
        var failures = new List<string>();
        var total = (long)(rate * duration.TotalSeconds);
        var inFlight = new List<Task>((int)Math.Min(total, 4_000_000));
        var clock = Stopwatch.StartNew();
        long next = 0;
        while (next < total)
        {
            var now = clock.Elapsed;
            for (; next < total && Due(next) <= now; next++)
            {
                inFlight.Add(SendAsync(Due(next)));
            }

            await Task.Delay(1);
        }

        await Task.WhenAll(inFlight);
        return new OpenLoopResult(
            phase, rate, clock.Elapsed, total, accepted, shed, shedWithoutHeader, failed, acceptedFromDue, acceptedFromSend, shedFromSend, failures);

        TimeSpan Due(long i) => TimeSpan.FromTicks((long)(i * TimeSpan.TicksPerSecond / rate));

        async Task SendAsync(TimeSpan due)
        {
            var sent = clock.Elapsed;
            try
            {
                using var response = await client.GetAsync(url, HttpCompletionOption.ResponseContentRead);
                var done = clock.Elapsed;
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref accepted);
                    acceptedFromDue.RecordValue(Microseconds(done - due));
                    acceptedFromSend.RecordValue(Microseconds(done - sent));
                }
                else if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Interlocked.Increment(ref shed);
                    shedFromSend.RecordValue(Microseconds(done - sent));
                    if (!response.Headers.TryGetValues("x-envoy-overloaded", out var values) || !values.Contains("true"))
                    {
                        Interlocked.Increment(ref shedWithoutHeader);
                    }
                }
                else
                {
                    Fail($"status {(int)response.StatusCode}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Fail($"{e.GetType().Name}: {e.Message}");
            }
        }

        void Fail(string why)
        {
            if (Interlocked.Increment(ref failed) <= 5)
            {
                lock (failures)
                {
                    failures.Add(why);
                }
            }
        }
    }

    private static LongConcurrentHistogram NewHistogram() => new(1, TimeSpan.FromSeconds(120).Ticks / 10, 3);

    private static long Microseconds(TimeSpan time) => Math.Max(1, time.Ticks / 10);

    public void Dispose() => client.Dispose();
}
