using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Discovery;

/// <summary>The sidecar keeps its service checked in while ready, and deregisters when it drains or stops.</summary>
public sealed class RegistrationAgentTests : IAsyncLifetime
{
    private ScriptedDiscovery _discovery = null!;

    public async Task InitializeAsync() => _discovery = await ScriptedDiscovery.StartAsync();

    public async Task DisposeAsync() => await _discovery.DisposeAsync();

    private ProxyConfig Config(string interval = "00:01:00")
    {
        var config = new ProxyConfig();
        config.Root["ProxyMesh"]!["ServiceName"] = "checkout";
        config.Root["ProxyMesh"]!["Registration"] = new JsonObject
        {
            ["DiscoveryUrl"] = _discovery.Url,
            ["Ip"] = "10.1.2.3",
            ["Port"] = 10000,
            ["Revision"] = "build-42",
            ["Interval"] = interval,
            ["Tags"] = new JsonObject { ["Region"] = "eu-west-1", ["InstanceId"] = "i-abc", ["LoadBalancingWeight"] = 20, ["Canary"] = true },
        };
        return config;
    }

    private int Count(string method, string path) => _discovery.Requests.Count(request => request.Method == method && request.Path == path);

    private const string Registration = "/v1/registration/checkout";
    private const string Instance = "/v1/registration/checkout/10.1.2.3/10000";

    [Fact]
    public async Task Checks_in_at_start_with_its_identity_then_once_per_interval()
    {
        var time = new WatchedTimeProvider();
        await using var proxy = await RunningProxy.StartAsync(Config(), services =>
        {
            services.AddSingleton<TimeProvider>(time);
            services.AddSingleton<Random>(new FixedRandom(0));
        });

        await Eventually.AssertAsync(() => Task.FromResult(Count("POST", Registration) == 1), "the first check-in");
        var body = JsonNode.Parse(_discovery.Requests.First(request => request.Method == "POST").Body)!;
        Assert.Equal("10.1.2.3", (string?)body["ip"]);
        Assert.Equal(10000, (int?)body["port"]);
        Assert.Equal("build-42", (string?)body["revision"]);
        var tags = body["tags"]!;
        Assert.Equal(("zone-a", "eu-west-1", "i-abc", 20, true),
            ((string?)tags["az"], (string?)tags["region"], (string?)tags["instance_id"], (int?)tags["load_balancing_weight"], (bool?)tags["canary"]));

        for (var checkIn = 2; checkIn <= 3; checkIn++)
        {
            var waits = checkIn - 1;
            await Eventually.AssertAsync(() => Task.FromResult(time.TimersDue(TimeSpan.FromMinutes(1)) == waits), "the agent waits a minute");
            time.Advance(TimeSpan.FromMinutes(1) - TimeSpan.FromMilliseconds(1));
            Assert.Equal(checkIn - 1, Count("POST", Registration));
            time.Advance(TimeSpan.FromMilliseconds(1));
            await Eventually.AssertAsync(() => Task.FromResult(Count("POST", Registration) == checkIn), $"check-in {checkIn}");
        }
    }

    [Theory]
    [InlineData(0.5, 63_000)]
    [InlineData(0.99, 65_940)]
    public async Task Each_interval_has_up_to_ten_percent_jitter_drawn_from_the_random_source(double draw, int expectedMilliseconds)
    {
        var time = new WatchedTimeProvider();
        await using var proxy = await RunningProxy.StartAsync(Config(), services =>
        {
            services.AddSingleton<TimeProvider>(time);
            services.AddSingleton<Random>(new FixedRandom(draw));
        });
        await Eventually.AssertAsync(() => Task.FromResult(Count("POST", Registration) == 1), "the first check-in");

        var expected = TimeSpan.FromMilliseconds(expectedMilliseconds);
        await Eventually.AssertAsync(() => Task.FromResult(time.TimersDue(expected) == 1), $"the agent waits {expected}");
        time.Advance(expected - TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, Count("POST", Registration));
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Eventually.AssertAsync(() => Task.FromResult(Count("POST", Registration) == 2), "the second check-in, jitter later");
    }

    [Fact]
    public async Task Deregisters_on_drain_checks_in_again_when_restored_and_deregisters_on_shutdown()
    {
        var proxy = await RunningProxy.StartAsync(Config());
        try
        {
            using var admin = Clients.Http1(proxy.Admin);
            await Eventually.AssertAsync(() => Task.FromResult(Count("POST", Registration) == 1), "the first check-in");

            (await admin.PostAsync("/healthcheck/fail", null)).Dispose();
            await Eventually.AssertAsync(() => Task.FromResult(Count("DELETE", Instance) == 1), "deregistration on drain");

            (await admin.PostAsync("/healthcheck/ok", null)).Dispose();
            await Eventually.AssertAsync(() => Task.FromResult(Count("POST", Registration) == 2), "check-in once restored");
        }
        finally
        {
            await proxy.DisposeAsync();
        }

        // Deregistering is idempotent, and shutdown may race a check-in that was in flight: what matters is that the
        // service was deregistered again after its last check-in.
        Assert.True(Count("DELETE", Instance) >= 2, $"deregistrations: {Count("DELETE", Instance)}");
        Assert.Equal("DELETE", _discovery.Requests.Last().Method);
    }

    [Fact]
    public async Task Discovery_down_is_counted_and_never_disturbs_traffic()
    {
        await _discovery.StopAsync();
        await using var backend = await Backend.StartEchoAsync();
        await using var proxy = await RunningProxy.StartAsync(Config("00:00:00.100").Cluster("app", backend.Address).Route("app", "app"));

        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_registration_check_in_total", "result=\"failure\"") >= 3,
            "failed check-ins are counted");
        using var client = Clients.Http1(proxy.Ingress);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
        using var admin = Clients.Http1(proxy.Admin);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);

        await _discovery.RestartAsync();
        await Eventually.AssertAsync(() => Task.FromResult(Count("POST", Registration) >= 1), "check-ins resume when discovery returns");
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_registration_check_in_total", "result=\"success\"") >= 1,
            "successful check-ins are counted");
    }
}
