using System.Collections.Concurrent;
using System.Diagnostics;

namespace ProxyMesh.Bench.Soak;

/// <summary>Operations of one kind of traffic and how many failed, with the first few failures kept for the report.</summary>
internal sealed class LoadKind(string name, string unit)
{
    private const int KeptFailures = 5;
    private readonly ConcurrentQueue<string> failures = new();
    private long succeeded;
    private long failed;

    public string Name { get; } = name;

    public string Unit { get; } = unit;

    public long Succeeded => Interlocked.Read(ref succeeded);

    public long Failed => Interlocked.Read(ref failed);

    public IEnumerable<string> Failures => failures;

    public void Succeed() => Interlocked.Increment(ref succeeded);

    public void Fail(string why)
    {
        if (Interlocked.Increment(ref failed) <= KeptFailures)
        {
            failures.Enqueue($"{DateTime.UtcNow:HH:mm:ss} {why}");
        }
    }

    /// <summary>
    /// Runs <paramref name="operation"/> <paramref name="rate"/> times a second over <paramref name="workers"/>
    /// workers until <paramref name="stop"/>. A worker that falls behind skips ahead instead of bursting, so a slow
    /// moment is not followed by a load spike. The operation gets no cancellation from <paramref name="stop"/>: a
    /// request in flight when the run ends completes and is counted.
    /// </summary>
    public async Task RunPacedAsync(int rate, int workers, Func<Task> operation, CancellationToken stop)
    {
        if (rate == 0)
        {
            return;
        }

        workers = Math.Min(workers, rate);
        var interval = TimeSpan.FromSeconds((double)workers / rate);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            var due = interval * worker / workers;
            while (!stop.IsCancellationRequested)
            {
                var wait = due - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(wait, stop);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }

                try
                {
                    await operation();
                    Succeed();
                }
                catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException or InvalidDataException
                    or Grpc.Core.RpcException or System.Net.WebSockets.WebSocketException)
                {
                    Fail($"{e.GetType().Name}: {e.Message}");
                }

                due += interval;
                if (clock.Elapsed - due > interval)
                {
                    due = clock.Elapsed;
                }
            }
        })));
    }
}
