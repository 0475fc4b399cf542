using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.Resilience.HealthChecks;

/// <summary>The checker's schedule and thresholds on a fake clock, advanced only while the checker waits.</summary>
public sealed class HealthCheckScheduleTests
{
    private static readonly TimeSpan Jittered = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan NoTraffic = TimeSpan.FromSeconds(61);

    [Fact]
    public async Task Checks_run_every_jittered_interval_once_traffic_flows_and_thresholds_decide_health()
    {
        var time = new WatchedTimeProvider();
        await using var host = await FlippingBackend.StartAsync("host");
        var config = HealthCheckTests.WithHealthCheck(new ProxyConfig().Cluster("app", [host.Address]).Route("app", "app"), "app", new JsonObject
        {
            ["Type"] = "Http",
            ["Path"] = "/health",
            ["Interval"] = "00:00:07",
            ["IntervalJitter"] = "00:00:02",
            ["InitialJitter"] = "00:00:00",
            ["NoTrafficInterval"] = "00:01:00",
            ["UnhealthyThreshold"] = 3,
            ["HealthyThreshold"] = 2,
        });
        await using var proxy = await RunningProxy.StartAsync(config, services =>
        {
            services.AddSingleton<TimeProvider>(time);
            services.AddSingleton<Random>(new FixedRandom(0.5));
        });

        // Start-up: one check, which decides at once; with no traffic yet, the next waits the no-traffic interval.
        await Eventually.AssertAsync(() => Task.FromResult(time.TimersDue(NoTraffic) == 1), "the checker waits the no-traffic interval (60 s + 1 s jitter)");
        Assert.Equal(1, host.Checks);
        Assert.Equal(DestinationHealth.Healthy, Health(proxy));

        // The first request ends that wait; from then on the regular interval (7 s + 1 s jitter) applies.
        using var client = Clients.Http1(proxy.Ingress);
        Assert.Equal("", await client.GetStringAsync("/"));
        await WaitingAsync(time, 1);
        Assert.Equal(2, host.Checks);

        time.Advance(Jittered - TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, host.Checks);

        // Network failures: unhealthy on the third in a row.
        host.Mode = HealthMode.Abort;
        var waits = 1;
        time.Advance(TimeSpan.FromMilliseconds(1));
        await WaitingAsync(time, ++waits);
        Assert.Equal(DestinationHealth.Healthy, Health(proxy));
        await CheckAsync(time, ++waits);
        Assert.Equal(DestinationHealth.Healthy, Health(proxy));
        await CheckAsync(time, ++waits);
        Assert.Equal(DestinationHealth.Unhealthy, Health(proxy));

        // Back: healthy on the second success in a row.
        host.Mode = HealthMode.Ok;
        await CheckAsync(time, ++waits);
        Assert.Equal(DestinationHealth.Unhealthy, Health(proxy));
        await CheckAsync(time, ++waits);
        Assert.Equal(DestinationHealth.Healthy, Health(proxy));

        // A host that answers it is unhealthy is ejected at once, whatever the threshold.
        host.Mode = HealthMode.Unavailable;
        await CheckAsync(time, ++waits);
        Assert.Equal(DestinationHealth.Unhealthy, Health(proxy));

        Assert.Equal(8, host.Checks);
        Assert.Equal(8, await MetricsScrape.ValueAsync(proxy, "proxymesh_health_check_attempt_total", "cluster=\"app\""));
        Assert.Equal(4, await MetricsScrape.ValueAsync(proxy, "proxymesh_health_check_success_total", "cluster=\"app\""));
        Assert.Equal(4, await MetricsScrape.ValueAsync(proxy, "proxymesh_health_check_failure_total", "cluster=\"app\""));
    }

    private static DestinationHealth Health(RunningProxy proxy) => HealthCheckTests.ActiveHealth(proxy, "d0");

    private static Task WaitingAsync(WatchedTimeProvider time, int waits) =>
        Eventually.AssertAsync(() => Task.FromResult(time.TimersDue(Jittered) == waits), $"the checker waits the interval for the {waits}. time");

    private static Task CheckAsync(WatchedTimeProvider time, int waits)
    {
        time.Advance(Jittered);
        return WaitingAsync(time, waits);
    }
}
