using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.DiscoveryService;

/// <summary>DynamoDB goes down mid-run (dynalite killed) and comes back (restarted on the same port with its data).</summary>
public sealed class DynamoDbOutageTests
{
    private readonly FakeTimeProvider _clock = RegistryBehaviourTests.NewClock();

    [Fact]
    public async Task Reads_answer_the_last_view_marked_stale_during_an_outage_and_recover_when_the_store_returns()
    {
        await using var dynalite = await Dynalite.StartAsync();
        var settings = DynamoDbStoreTests.Settings(dynalite, "registrations");
        settings["Discovery:CacheTtl"] = "30";
        await using var discovery = await RunningDiscovery.StartAsync(settings, _clock);
        using var api = new DiscoveryApi(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);
        await api.CheckInOkAsync("orders", "10.0.0.6", 8080);
        Assert.Equal(["10.0.0.5:8080", "10.0.0.6:8080"], await api.EndpointsAsync("orders"));

        await dynalite.StopAsync();
        _clock.Advance(TimeSpan.FromSeconds(30));

        var stale = await api.ServiceAsync("orders");
        Assert.True((bool)stale["stale"]!);
        Assert.Equal(2, stale["hosts"]!.AsArray().Count);
        Assert.Equal(1, await api.MetricAsync("discovery_stale_answers_total"));
        Assert.Equal(1, await api.MetricAsync("""discovery_store_errors_total{operation="read"}"""));

        // Within the next cache TTL the store is left alone; answers stay stale.
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True((bool)(await api.ServiceAsync("orders"))["stale"]!);
        Assert.Equal(2, await api.MetricAsync("discovery_stale_answers_total"));
        Assert.Equal(1, await api.MetricAsync("""discovery_store_errors_total{operation="read"}"""));

        // With no earlier view, and for writes, there is nothing to answer from: 503 with a reason, never a 500.
        await AssertUnavailableAsync(await api.GetAsync("users"));
        await AssertUnavailableAsync(await api.CheckInAsync("orders", "10.0.0.7", 8080));
        await AssertUnavailableAsync(await api.DeregisterAsync("orders", "10.0.0.5", 8080));
        Assert.Equal(1, await api.MetricAsync("""discovery_store_errors_total{operation="write"}"""));
        Assert.Equal(1, await api.MetricAsync("""discovery_store_errors_total{operation="delete"}"""));
        Assert.Equal(0, await api.MetricAsync("""discovery_check_ins_total{result="rejected"}"""));

        await dynalite.RestartAsync();
        _clock.Advance(TimeSpan.FromSeconds(30));

        var fresh = await api.ServiceAsync("orders");
        Assert.False(fresh.ContainsKey("stale"));
        Assert.Equal(2, fresh["hosts"]!.AsArray().Count);
        await api.CheckInOkAsync("orders", "10.0.0.7", 8080);
        Assert.Equal(["10.0.0.5:8080", "10.0.0.6:8080", "10.0.0.7:8080"], await api.EndpointsAsync("orders"));
        Assert.Equal(2, await api.MetricAsync("discovery_stale_answers_total"));
    }

    [Fact]
    public async Task A_stale_view_keeps_hosts_as_live_as_they_were_at_the_last_good_read()
    {
        await using var dynalite = await Dynalite.StartAsync();
        var settings = DynamoDbStoreTests.Settings(dynalite, "registrations");
        settings["Discovery:HostTtl"] = "60";
        settings["Discovery:CacheTtl"] = "10";
        await using var discovery = await RunningDiscovery.StartAsync(settings, _clock);
        using var api = new DiscoveryApi(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);
        Assert.Single(await api.EndpointsAsync("orders"));

        await dynalite.StopAsync();
        _clock.Advance(TimeSpan.FromMinutes(5)); // the host cannot check in while the store is down

        var stale = await api.ServiceAsync("orders");
        Assert.True((bool)stale["stale"]!);
        Assert.Single(stale["hosts"]!.AsArray());
    }

    private static async Task AssertUnavailableAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("unavailable", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"], StringComparison.Ordinal);
        }
    }
}
