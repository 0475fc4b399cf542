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
    long Due,
    long Accepted,
    long Shed,
    long ShedWithoutHeader,
    long Refused,
    long StreamRefused,
    long ClientDropped,
    long Failed,
    LongConcurrentHistogram AcceptedFromDue,
    LongConcurrentHistogram AcceptedFromSend,
    LongConcurrentHistogram ShedFromSend,
    LongConcurrentHistogram RefusedFromSend,
    TimeSpan? ShedDueFirst,
    TimeSpan? ShedDueLast,
    TimeSpan HarnessGcPause,
    IReadOnlyList<string> Failures)
{
    /// <summary>Requests handed to the client: those due less those the client's own limit dropped.</summary>
    public long Sent => Due - ClientDropped;

    public double RefusedShare => Sent == 0 ? 0 : (double)(Shed + Refused + StreamRefused) / Sent;
}

/// <summary>
/// Sends requests at a fixed rate whatever the answers do (open loop): every millisecond it sends all the requests that
/// have come due, each on its own task, through an <see cref="OverloadClient"/>. Answers are sorted into accepted,
/// shed (and whether <c>x-envoy-overloaded: true</c> came with it), refused at connection and failed. Accepted latencies are kept both from
/// when the request was due (coordinated omission corrected: client-side queueing counts) and from when it was handed
/// to the client.
/// </summary>
internal static class OpenLoopGenerator
{
    /// <param name="maxOutstanding">
    /// Requests the generator keeps unanswered at most, as a client's own pending-request limit (Envoy's
    /// <c>max_pending_requests</c>) would: a request due while that many are out is not sent, only counted. It keeps the
    /// generator's memory and GC pauses bounded; the proxy is as loaded either way, since the client has more waiting
    /// than the proxy admits.
    /// </param>
    public static async Task<OpenLoopResult> RunAsync(OverloadClient client, string phase, double rate, TimeSpan duration, int maxOutstanding)
    {
        var acceptedFromDue = NewHistogram();
        var acceptedFromSend = NewHistogram();
        var shedFromSend = NewHistogram();
        var refusedFromSend = NewHistogram();
        long accepted = 0, shed = 0, shedWithoutHeader = 0, refused = 0, streamRefused = 0, clientDropped = 0, failed = 0, outstanding = 0;
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
                if (Volatile.Read(ref outstanding) >= maxOutstanding)
                {
                    clientDropped++;
                    continue;
                }

                Interlocked.Increment(ref outstanding);
                inFlight.Add(SendAsync(Due(next)));
            }

            await Task.Delay(1);
        }

        await Task.WhenAll(inFlight);
        return new OpenLoopResult(
            phase, rate, clock.Elapsed, total, accepted, shed, shedWithoutHeader, refused, streamRefused, clientDropped, failed, acceptedFromDue, acceptedFromSend, shedFromSend, refusedFromSend,
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
                        if (failure is not null)
                        {
                            Note(failure);
                        }

                        break;
                    case Answer.Refused or Answer.StreamRefused:
                        Interlocked.Increment(ref answer == Answer.Refused ? ref refused : ref streamRefused);
                        refusedFromSend.RecordValue(Microseconds(done - sent));
                        break;
                    default:
                        Fail(failure ?? answer.ToString());
                        break;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Fail(Describe(e));
            }
            finally
            {
                Interlocked.Decrement(ref outstanding);
            }
        }

        void Fail(string why)
        {
            Interlocked.Increment(ref failed);
            Note(why);
        }

        void Note(string why)
        {
            lock (failures)
            {
                if (failures.Count < 5 && !failures.Contains(why))
                {
                    failures.Add(why);
                }
            }
        }
    }

    /// <summary>The exception and its inner exceptions, outermost first.</summary>
    private static string Describe(Exception e)
    {
        var text = $"{e.GetType().Name}{(e is HttpRequestException { HttpRequestError: var error } ? $" ({error})" : "")}: {e.Message}";
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            text += $" ← {inner.GetType().Name}: {inner.Message}";
        }

        return text;
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
