using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience.HealthChecks;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// The proxy's background loops (active health checking, discovery polling, registration) survive an unexpected
/// exception: counted per loop, logged, and the loop carries on at its next interval.
/// </summary>
public sealed class BackgroundLoopTests
{
    private const string Errors = "proxymesh_background_loop_errors_total";

    private static void ThrowOnFirstDraw(IServiceCollection services) => services.AddSingleton<Random>(new ThrowingOnceRandom(0.5));

    [Fact]
    public async Task Health_checking_keeps_going_after_an_unexpected_exception()
    {
        await using var host = await FlippingBackend.StartAsync("host");
        var config = HealthCheckTests.WithHealthCheck(new ProxyConfig().Cluster("app", [host.Address]).Route("app", "app"), "app", new JsonObject
        {
            ["Type"] = "Http",
            ["Path"] = "/health",
            ["Interval"] = "00:00:00.100",
            ["NoTrafficInterval"] = "00:00:00.100",
            ["IntervalJitter"] = "00:00:00.010",
        });
        await using var proxy = await RunningProxy.StartAsync(config, ThrowOnFirstDraw);

        await Eventually.AssertAsync(() => Task.FromResult(host.Checks >= 3), "checks after the fault");
        await MetricsScrape.AssertEventuallyAsync(proxy, Errors, "loop=\"health_check\"", 1);
    }

    [Fact]
    public async Task Discovery_polling_keeps_going_after_an_unexpected_exception()
    {
        await using var discovery = await ScriptedDiscovery.StartAsync();
        var config = new ProxyConfig()
            .DiscoveryCluster("orders", "orders", discovery.Url, refreshInterval: TimeSpan.FromMilliseconds(100))
            .Route("orders", "orders");
        await using var proxy = await RunningProxy.StartAsync(config, ThrowOnFirstDraw);

        await Eventually.AssertAsync(() => Task.FromResult(discovery.ReadsOf("orders") >= 3), "polls after the fault");
        await MetricsScrape.AssertEventuallyAsync(proxy, Errors, "loop=\"discovery\"", 1);
    }

    [Fact]
    public async Task Registration_keeps_going_and_the_proxy_keeps_serving_after_an_unexpected_exception()
    {
        await using var discovery = await ScriptedDiscovery.StartAsync();
        var config = new ProxyConfig();
        config.Root["ProxyMesh"]!["ServiceName"] = "checkout";
        config.Root["ProxyMesh"]!["Registration"] = new JsonObject
        {
            ["DiscoveryUrl"] = discovery.Url,
            ["Ip"] = "10.1.2.3",
            ["Port"] = 10000,
            ["Interval"] = "00:00:00.100",
        };
        await using var proxy = await RunningProxy.StartAsync(config, ThrowOnFirstDraw);

        await Eventually.AssertAsync(
            () => Task.FromResult(discovery.Requests.Count(request => request.Method == "POST") >= 3),
            "check-ins after the fault");
        await MetricsScrape.AssertEventuallyAsync(proxy, Errors, "loop=\"registration\"", 1);
        using var admin = Clients.Http1(proxy.Admin);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
    }
}
