using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;
using static ProxyMesh.Proxy.Tests.Resilience.OutlierDetection.OutlierDetectionTestBed;

namespace ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

/// <summary>
/// The ejection rules through the proxy, on a fake clock (sweeps every 10 s from the cluster's first request, at fake
/// time 0): the multiplier's decay, partial enforcement on injected draws, and ejections ended by a reload that turns
/// the policy off.
/// </summary>
public sealed class OutlierEjectionEndToEndTests : ThreeCommandedBackends
{
    private ProxyConfig Orders(JsonObject policy) =>
        new ProxyConfig().RoundRobinCluster("orders", A.Address, B.Address, C.Address).Route("orders", "orders").Policy("orders", policy);

    /// <summary>Five 500s from c (round robin over three hosts), and waits for the ejection to be enforced.</summary>
    private async Task EjectCAsync(RunningProxy proxy, HttpClient client, double enforcedBefore)
    {
        C.Status = 500;
        await SendAsync(client, 15);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"orders\",type=\"consecutive_5xx\"", enforcedBefore + 1);
        C.Status = 200;
        await AssertTrafficGoesToAsync(client, ["a", "b"], "c is ejected");
    }

    [Fact]
    public async Task Each_interval_a_host_stays_in_service_lowers_its_next_ejection_time()
    {
        await using var proxy = await StartAsync(Orders(new JsonObject { ["BaseEjectionTime"] = "00:00:10", ["Interval"] = "00:00:10" }), Clock);
        using var client = Clients.Http1(proxy.Ingress);

        await EjectCAsync(proxy, client, 0); // t = 0: first ejection, 10 s
        Clock.Advance(Interval); // t = 10: back (the sweep returns it; no decay in the interval it returns)
        await AssertTrafficGoesToAsync(client, ["a", "b", "c"], "c returns after 10 s");
        Clock.Advance(Interval); // t = 20: a whole interval in service: the multiplier decays from 1 to 0

        await EjectCAsync(proxy, client, 1); // t = 20: second ejection, 10 s again (without the decay: 20 s)
        Clock.Advance(Interval - TimeSpan.FromSeconds(1));
        Assert.DoesNotContain("c", await SendAsync(client, 9));
        Clock.Advance(TimeSpan.FromSeconds(1)); // t = 30
        await AssertTrafficGoesToAsync(client, ["a", "b", "c"], "c returns 10 s after its second ejection");
    }

    [Theory]
    [InlineData(0.4, 1)]
    [InlineData(0.6, 0)]
    public async Task A_detection_is_enforced_when_the_draw_falls_under_the_enforcing_percentage(double draw, int enforced)
    {
        var policy = new JsonObject { ["EnforcingConsecutive5xx"] = 50 };
        await using var proxy = await StartAsync(Orders(policy), Clock, new FixedRandom(draw));
        using var client = Clients.Http1(proxy.Ingress);
        C.Status = 500;

        await SendAsync(client, 15);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_detected_total", "cluster=\"orders\",type=\"consecutive_5xx\"", 1);
        Assert.Equal(enforced, await Enforced(proxy, "consecutive_5xx"));
        Assert.Equal(enforced, await Active(proxy));
        var reached = await SendAsync(client, 6);
        Assert.Equal(enforced == 0, reached.Contains("c")); // c still takes traffic unless ejected
    }

    [Fact]
    public async Task Turning_the_policy_off_on_reload_ends_current_ejections_at_the_next_sweep()
    {
        var config = Orders(new JsonObject { ["BaseEjectionTime"] = "00:01:00" });
        await using var proxy = await StartAsync(config, Clock);
        using var client = Clients.Http1(proxy.Ingress);
        await EjectCAsync(proxy, client, 0);
        Assert.Equal(1, await Active(proxy));

        await proxy.RewriteSettingsAsync(Orders(new JsonObject { ["Enabled"] = false }).WithoutRetries());
        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_success_total") >= 1, "the reload applies");

        // Within two sweeps (a sweep may start before the reload is seen), far inside the one-minute ejection.
        var back = false;
        for (var sweep = 0; sweep < 2 && !back; sweep++)
        {
            Clock.Advance(Interval);
            back = await Eventually.TrueAsync(async () => (await SendAsync(client, 9)).Contains("c"), TimeSpan.FromSeconds(5));
        }

        Assert.True(back, "c serves again once outlier detection is off, 20 s into a 60 s ejection");
        Assert.Equal(0, await Active(proxy));
    }
}
