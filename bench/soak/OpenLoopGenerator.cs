using System.Diagnostics;
using HdrHistogram;

namespace ProxyMesh.Bench.Soak;

/// <summary>What an open-loop phase saw; latencies in microseconds.</summary>
/// <param name="ShedDueFirst">When the first shed request of the phase was due, from the phase's start; null when none was shed.</param>
/// <param name="ShedDueLast">When the last shed request of the phase was due, from the phase's start.</param>
/// <param name="HarnessGcPause">Time the harness process itself spent paused in GC during the phase: requests that came due then went out together after it.</param>
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
    TimeSpan? ShedDueFirst,
    TimeSpan? ShedDueLast,
    TimeSpan HarnessGcPause,
    IReadOnlyList<string> Failures)
{
    public double ShedShare => Sent == 0 ? 0 : (double)Shed / Sent;
}

/// <summary>
/// Sends requests at a fixed rate whatever the answers do (open loop): every millisecond it sends all the requests that
/// have come due, each on its own task, through an <see cref="OverloadClient"/>. Answers are sorted into accepted,
/// shed (and whether <c>x-envoy-overloaded: true</c> came with it) and failed. Accepted latencies are kept both from
/// when the request was due (coordinated omission corrected: client-side queueing counts) and from when it was handed
/// to the client.
/// </summary>
internal static class OpenLoopGenerator
{
    public static async Task<OpenLoopResult> RunAsync(OverloadClient client, string phase, double rate, TimeSpan duration)
    {
        var acceptedFromDue = NewHistogram();
        var acceptedFromSend = NewHistogram();
        var shedFromSend = NewHistogram();
        long accepted = 0, shed = 0, shedWithoutHeader = 0, failed = 0;
        long shedDueFirst = long.MaxValue, shedDueLast = -1;
        var failures = new List<string>();
        var requestId = OverloadClient.RequestIdOf(phase);
        var total = (long)(rate * duration.TotalSeconds);
        var inFlight = new List<Task>((int)Math.Min(total, 4_000_000));
        var gcPauseBefore = GC.GetTotalPauseDuration();
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
            phase, rate, clock.Elapsed, total, accepted, shed, shedWithoutHeader, failed, acceptedFromDue, acceptedFromSend, shedFromSend,
            shed + shedWithoutHeader == 0 ? null : TimeSpan.FromTicks(shedDueFirst), shed + shedWithoutHeader == 0 ? null : TimeSpan.FromTicks(shedDueLast),
            GC.GetTotalPauseDuration() - gcPauseBefore, failures);

        TimeSpan Due(long i) => TimeSpan.FromTicks((long)(i * TimeSpan.TicksPerSecond / rate));

        async Task SendAsync(TimeSpan due)
        {
            var sent = clock.Elapsed;
            try
            {
                var (answer, failure) = await client.SendAsync(requestId);
                var done = clock.Elapsed;
                switch (answer)
                {
                    case Answer.Accepted:
                        Interlocked.Increment(ref accepted);
                        acceptedFromDue.RecordValue(Microseconds(done - due));
                        acceptedFromSend.RecordValue(Microseconds(done - sent));
                        break;
                    case Answer.Shed or Answer.ShedWithoutHeader:
                        Interlocked.Increment(ref answer == Answer.Shed ? ref shed : ref shedWithoutHeader);
                        shedFromSend.RecordValue(Microseconds(done - sent));
                        InterlockedMin(ref shedDueFirst, due.Ticks);
                        InterlockedMax(ref shedDueLast, due.Ticks);
                        break;
                    default:
                        Fail(failure ?? answer.ToString());
                        break;
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

    private static void InterlockedMin(ref long target, long value)
    {
        for (var seen = Volatile.Read(ref target); value < seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }

    private static LongConcurrentHistogram NewHistogram() => new(1, TimeSpan.FromSeconds(120).Ticks / 10, 3);

    private static long Microseconds(TimeSpan time) => Math.Max(1, time.Ticks / 10);
}
