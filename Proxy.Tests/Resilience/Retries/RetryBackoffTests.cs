using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ProxyMesh.Proxy.Resilience.Retries;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>
/// Envoy's fully jittered exponential back-off (router docs, <c>x-envoy-max-retries</c>): retry n waits a random time
/// in [0, (2^n − 1) × base], base 25 ms by default, capped at the max interval (10 × base by default). The pipeline
/// runs on a fake clock that records each delay it is asked for; through the proxy, only a lower bound on the elapsed
/// time is asserted (a loaded machine makes everything slower, never faster).
/// </summary>
public sealed class RetryBackoffTests
{
    /// <summary>A fake clock that records the due time of every timer set on it (Polly's back-off is one timer).</summary>
    private sealed class DelayRecordingTimeProvider : FakeTimeProvider
    {
        public ConcurrentQueue<TimeSpan> Delays { get; } = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            Delays.Enqueue(dueTime); // once the timer is set: advancing the clock before would leave it in the future
            return timer;
        }
    }

    /// <summary>
    /// Runs a policy's pipeline as the router does (its first step stands for the attempt already made) for
    /// <paramref name="retries"/> retries, moving the fake clock only by the back-off timers the pipeline sets; the
    /// fake time between consecutive attempts, which is the delay each retry waited.
    /// </summary>
    private static async Task<TimeSpan[]> DelaysAsync(RetryPolicy policy, Random random, int retries)
    {
        var time = new DelayRecordingTimeProvider();
        var pipelines = new RetryPipelines(time, random);
        var attempts = new ConcurrentQueue<DateTimeOffset>();
        var run = pipelines.For(policy).ExecuteAsync(_ =>
        {
            attempts.Enqueue(time.GetUtcNow());
            return ValueTask.FromResult(attempts.Count <= retries);
        }).AsTask();

        while (!run.IsCompleted)
        {
            await Eventually.AssertAsync(() => Task.FromResult(!time.Delays.IsEmpty || run.IsCompleted), "the pipeline waits a back-off or ends");
            if (time.Delays.TryDequeue(out var delay))
            {
                time.Advance(delay > TimeSpan.Zero ? delay : TimeSpan.FromTicks(1)); // a timer set for zero fires on the next tick
            }
        }

        Assert.False(await run);
        var times = attempts.ToArray();
        Assert.Equal(retries + 1, times.Length);
        return Enumerable.Range(0, retries).Select(retry => times[retry + 1] - times[retry]).ToArray();
    }

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Fact]
    public async Task Each_retry_waits_at_most_2_to_the_n_minus_1_times_the_base_capped_at_ten_times_the_base()
    {
        // The largest draw shows each ceiling: 25, 75, 175 ms, then 375 and above capped at 250 ms (10 × 25 ms).
        var top = await DelaysAsync(new RetryPolicy(), new FixedRandom(0.999999), 6);
        double[] ceilings = [25, 75, 175, 250, 250, 250];
        for (var retry = 0; retry < ceilings.Length; retry++)
        {
            Assert.InRange(top[retry].TotalMilliseconds, ceilings[retry] - 1, ceilings[retry]); // whole milliseconds
        }

        // A configured cap holds as well.
        var capped = await DelaysAsync(new RetryPolicy { BackoffBaseInterval = Ms(10), BackoffMaxInterval = Ms(40) }, new FixedRandom(0.999999), 4);
        double[] cappedCeilings = [10, 30, 40, 40];
        for (var retry = 0; retry < cappedCeilings.Length; retry++)
        {
            Assert.InRange(capped[retry].TotalMilliseconds, cappedCeilings[retry] - 1, cappedCeilings[retry]);
        }
    }

    [Fact]
    public async Task Delays_are_fully_jittered_over_zero_to_the_ceiling()
    {
        double[] ceilings = [25, 75, 175, 250];
        var lowest = new double[ceilings.Length];
        var highest = new double[ceilings.Length];
        Array.Fill(lowest, 1);
        var random = new Random(7);
        for (var run = 0; run < 100; run++)
        {
            var delays = await DelaysAsync(new RetryPolicy(), random, ceilings.Length);
            for (var retry = 0; retry < ceilings.Length; retry++)
            {
                var fraction = delays[retry].TotalMilliseconds / ceilings[retry];
                Assert.InRange(fraction, 0, 1);
                lowest[retry] = Math.Min(lowest[retry], fraction);
                highest[retry] = Math.Max(highest[retry], fraction);
            }
        }

        // Full jitter: 100 draws cover [0, 1] of each ceiling (not a fixed delay, not a jitter on top of one).
        Assert.All(lowest, fraction => Assert.True(fraction < 0.1, $"lowest fraction {fraction}"));
        Assert.All(highest, fraction => Assert.True(fraction > 0.9, $"highest fraction {fraction}"));
    }

    [Fact]
    public async Task Through_the_proxy_a_configured_base_interval_is_waited_before_each_retry()
    {
        var arrivals = new ConcurrentQueue<long>();
        Task<Backend> FailingAsync() => Backend.StartAsync(app => app.Run(context =>
        {
            arrivals.Enqueue(Stopwatch.GetTimestamp());
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        }));
        await using var failing1 = await FailingAsync();
        await using var failing2 = await FailingAsync();
        await using var good = await Backend.StartAsync(app => app.Run(context =>
        {
            arrivals.Enqueue(Stopwatch.GetTimestamp());
            return Backend.Echo(context, "good");
        }));

        // Two failing hosts listed first (FirstAlphabetical), then the good one: two retries.
        var config = new ProxyConfig().Cluster("app", [failing1.Address, failing2.Address, good.Address]).Route("app", "app");
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        config.ClusterPolicy("app", "Retry", new JsonObject { ["RetryOn"] = "5xx", ["NumRetries"] = 2, ["BackoffBaseInterval"] = "00:00:00.200" });

        // The largest draw: retry 1 waits 0.99 × 200 ms, retry 2 0.99 × 600 ms.
        await using var proxy = await RunningProxy.StartAsync(config, services => services.AddSingleton<Random>(new FixedRandom(0.99)));
        using var client = Clients.Http1(proxy.Ingress);
        using var response = await client.GetAsync("/work");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("good", response.Headers.GetValues("x-backend").Single());
        var times = arrivals.ToArray();
        Assert.Equal(3, times.Length);

        // Timers never fire early by more than the clock's granularity; later is always fine.
        var slack = Ms(5);
        Assert.True(Stopwatch.GetElapsedTime(times[0], times[1]) >= Ms(198) - slack, $"retry 1 after {Stopwatch.GetElapsedTime(times[0], times[1]).TotalMilliseconds} ms");
        Assert.True(Stopwatch.GetElapsedTime(times[1], times[2]) >= Ms(594) - slack, $"retry 2 after {Stopwatch.GetElapsedTime(times[1], times[2]).TotalMilliseconds} ms");
    }
}
