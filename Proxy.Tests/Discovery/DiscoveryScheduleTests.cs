using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Discovery;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Discovery;

/// <summary>Polls come every refresh interval plus uniform jitter in [0, interval], on an injected clock.</summary>
public sealed class DiscoveryScheduleTests
{
    [Theory]
    [InlineData(0.0, 30_000)]
    [InlineData(0.5, 45_000)]
    [InlineData(0.999, 59_970)]
    public void Jitter_spreads_polls_over_one_to_two_intervals(double draw, int expectedMilliseconds) =>
        Assert.Equal(
            TimeSpan.FromMilliseconds(expectedMilliseconds),
            DiscoveryClient.JitteredInterval(TimeSpan.FromSeconds(30), new FixedRandom(draw)));

    [Fact]
    public async Task The_proxy_polls_at_start_then_after_each_jittered_interval()
    {
        var time = new WatchedTimeProvider();
        await using var discovery = await ScriptedDiscovery.StartAsync();
        var config = new ProxyConfig().DiscoveryCluster("orders", "orders", discovery.Url).Route("orders", "orders");
        await using var proxy = await RunningProxy.StartAsync(config, services =>
        {
            services.AddSingleton<TimeProvider>(time);
            services.AddSingleton<Random>(new FixedRandom(0.5));
        });

        await Eventually.AssertAsync(() => Task.FromResult(discovery.ReadsOf("orders") == 1), "the first poll at start-up");

        var jittered = TimeSpan.FromSeconds(45);
        for (var poll = 2; poll <= 4; poll++)
        {
            var waits = poll - 1;
            await Eventually.AssertAsync(() => Task.FromResult(time.TimersDue(jittered) == waits), "the proxy waits for the next poll");
            time.Advance(TimeSpan.FromSeconds(45) - TimeSpan.FromMilliseconds(1));
            Assert.Equal(poll - 1, discovery.ReadsOf("orders"));
            time.Advance(TimeSpan.FromMilliseconds(1));
            var expected = poll;
            await Eventually.AssertAsync(() => Task.FromResult(discovery.ReadsOf("orders") == expected), $"poll {poll} after 45 s");
        }
    }
}
