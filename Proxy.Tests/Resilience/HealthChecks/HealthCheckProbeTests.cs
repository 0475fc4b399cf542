using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.Resilience.HealthChecks;

/// <summary>What one HTTP health check sends and how its answer counts: timeouts, expected statuses, the Host header.</summary>
public sealed class HealthCheckProbeTests
{
    private static JsonObject Check(string timeout = "00:00:01", string? expectedStatuses = null)
    {
        var check = new JsonObject
        {
            ["Type"] = "Http",
            ["Path"] = "/health",
            ["Interval"] = "00:00:00.050",
            ["NoTrafficInterval"] = "00:00:00.050",
            ["Timeout"] = timeout,
            ["UnhealthyThreshold"] = 3,
            ["HealthyThreshold"] = 1,
        };
        if (expectedStatuses is not null)
        {
            check["ExpectedStatuses"] = expectedStatuses;
        }

        return check;
    }

    private static async Task<RunningProxy> StartAsync(FlippingBackend backend, JsonObject check, string? host = null)
    {
        var config = HealthCheckTests.WithHealthCheck(new ProxyConfig().Cluster("app", backend.Address).Route("app", "app"), "app", check);
        if (host is not null)
        {
            config.Clusters["app"]!["Destinations"]!["d0"]!["Host"] = host;
        }

        var proxy = await RunningProxy.StartAsync(config);
        await HealthIsAsync(proxy, DestinationHealth.Healthy);
        return proxy;
    }

    private static Task HealthIsAsync(RunningProxy proxy, DestinationHealth expected) =>
        Eventually.AssertAsync(() => Task.FromResult(HealthCheckTests.ActiveHealth(proxy, "d0") == expected), $"the host is {expected}");

    [Fact]
    public async Task A_check_that_times_out_is_a_network_failure_and_needs_the_unhealthy_threshold()
    {
        await using var backend = await FlippingBackend.StartAsync("slow");
        await using var proxy = await StartAsync(backend, Check(timeout: "00:00:00.200"));

        var checksBefore = backend.Checks;
        backend.Mode = HealthMode.Hang;
        await HealthIsAsync(proxy, DestinationHealth.Unhealthy);

        // An answer saying "unhealthy" ejects at once; a timeout is a network failure, counted to the threshold of 3.
        Assert.True(backend.Checks - checksBefore >= 3, $"ejected after {backend.Checks - checksBefore} timed-out checks");
    }

    [Fact]
    public async Task An_answer_outside_the_expected_statuses_ejects_at_once()
    {
        await using var backend = await FlippingBackend.StartAsync("teapot");
        await using var proxy = await StartAsync(backend, Check());

        var checksBefore = backend.Checks;
        backend.Mode = HealthMode.Teapot;
        await HealthIsAsync(proxy, DestinationHealth.Unhealthy);
        Assert.InRange(backend.Checks - checksBefore, 1, 2); // the first 418 decides (one more may be in flight)
    }

    [Fact]
    public async Task Expected_statuses_with_ranges_and_single_codes_keep_a_host_healthy()
    {
        await using var backend = await FlippingBackend.StartAsync("teapot");
        await using var proxy = await StartAsync(backend, Check(expectedStatuses: "200-299,418"));

        backend.Mode = HealthMode.Teapot;
        var checksBefore = backend.Checks;
        await Eventually.AssertAsync(() => Task.FromResult(backend.Checks >= checksBefore + 5), "five checks answered 418");
        Assert.Equal(DestinationHealth.Healthy, HealthCheckTests.ActiveHealth(proxy, "d0"));

        backend.Mode = HealthMode.Unavailable;
        await HealthIsAsync(proxy, DestinationHealth.Unhealthy);
    }

    [Fact]
    public async Task Checks_send_the_destinations_host_header()
    {
        await using var backend = await FlippingBackend.StartAsync("named");
        await using var proxy = await StartAsync(backend, Check(), host: "health.orders.internal");

        Assert.Equal("health.orders.internal", backend.LastCheckHost);
    }
}
