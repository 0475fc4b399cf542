using System.Net;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;
using static ProxyMesh.Proxy.Tests.Resilience.OutlierDetection.OutlierDetectionTestBed;

namespace ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

/// <summary>
/// Outlier detection end to end: real upstreams on loopback that fail on command, traffic through the proxy, ejection
/// and return on a fake clock (advanced only once the proxy waits on it), stats from <c>/metrics</c>.
/// </summary>
public sealed class OutlierDetectionTests : ThreeCommandedBackends
{
    private static ProxyConfig Orders(params CommandedBackend[] backends) =>
        new ProxyConfig().RoundRobinCluster("orders", backends.Select(backend => backend.Address).ToArray()).Route("orders", "orders");

    [Fact]
    public async Task Consecutive_5xx_ejects_the_host_which_returns_after_the_base_ejection_time_and_is_ejected_twice_as_long_next_time()
    {
        C.Status = 500;
        await using var proxy = await StartAsync(Orders(A, B, C), Clock);
        using var client = Clients.Http1(proxy.Ingress);

        await SendAsync(client, 15); // Round robin: five 500s from c.
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"orders\",type=\"consecutive_5xx\"", 1);
        await AssertTrafficGoesToAsync(client, ["a", "b"], "traffic moves to the other hosts");
        Assert.Equal(1, await Detected(proxy, "consecutive_5xx"));
        Assert.Equal(1, await Active(proxy));
        Assert.Equal(0, await Enforced(proxy, "consecutive_gateway_failure"));

        C.Status = 200;
        Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.DoesNotContain("c", await SendAsync(client, 9));
        Clock.Advance(TimeSpan.FromSeconds(1));
        await AssertTrafficGoesToAsync(client, ["a", "b", "c"], "the host returns after 30 s");
        Assert.Equal(0, await Active(proxy));

        C.Status = 500;
        await SendAsync(client, 15);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"orders\",type=\"consecutive_5xx\"", 2);
        await AssertTrafficGoesToAsync(client, ["a", "b"], "traffic moves away again");
        C.Status = 200;
        Clock.Advance(TimeSpan.FromSeconds(59));
        Assert.DoesNotContain("c", await SendAsync(client, 9));
        Clock.Advance(TimeSpan.FromSeconds(1));
        await AssertTrafficGoesToAsync(client, ["a", "b", "c"], "the host returns after 60 s, twice the base ejection time");
        Assert.Equal(2, await Detected(proxy, "consecutive_5xx"));

        using var admin = Clients.Http1(proxy.Admin);
        var outlierMetrics = string.Join('\n', (await admin.GetStringAsync("/metrics")).Split('\n')
            .Where(line => line.Contains("proxymesh_outlier_detection_", StringComparison.Ordinal))) + "\n";
        Assert.Contains("proxymesh_outlier_detection_ejections_overflow_total", outlierMetrics, StringComparison.Ordinal);
        Assert.Equal("", await Promtool.CheckMetricsAsync(outlierMetrics));
    }

    [Fact]
    public async Task Max_ejection_percent_still_ejects_one_host_but_never_two()
    {
        B.Status = 500;
        C.Status = 500;
        await using var proxy = await StartAsync(Orders(A, B, C), Clock);
        using var client = Clients.Http1(proxy.Ingress);

        await SendAsync(client, 30);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_outlier_detection_ejections_overflow_total", "cluster=\"orders\"") >= 1,
            "the second failing host overflows MaxEjectionPercent");
        Assert.Equal(1, await Enforced(proxy, "consecutive_5xx"));
        Assert.Equal(1, await Active(proxy));
        var reached = await SendAsync(client, 12);
        Assert.Single(new[] { "b", "c" }, reached.Contains); // one failing host ejected, the other still served
        Assert.Equal(1, await Active(proxy));
    }

    [Fact]
    public async Task Consecutive_gateway_failures_including_connection_failures_eject_when_enforced()
    {
        var dead = C.Address;
        await C.DisposeAsync();
        C = await CommandedBackend.StartAsync("c2"); // keeps DisposeAsync balanced; the dead address refuses connections
        var config = Orders(A, B, C).Policy("orders", new JsonObject
        {
            ["Consecutive5xx"] = 100,
            ["ConsecutiveGatewayFailure"] = 3,
            ["EnforcingConsecutiveGatewayFailure"] = 100,
            ["MaxEjectionPercent"] = 50,
        });
        config.Clusters["orders"]!["Destinations"]!["d3"] = new JsonObject { ["Address"] = dead };
        B.Status = 503;
        await using var proxy = await StartAsync(config, Clock);
        using var client = Clients.Http1(proxy.Ingress);

        await SendAsync(client, 12); // three 503s from b, three connection failures (502) to the dead host
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"orders\",type=\"consecutive_gateway_failure\"", 2);
        await AssertTrafficGoesToAsync(client, ["a", "c2"], "only the healthy hosts take traffic");
        Assert.Equal(0, await Detected(proxy, "consecutive_5xx"));
    }

    [Fact]
    public async Task Gateway_failures_are_detected_but_not_enforced_by_default()
    {
        C.Status = 503;
        await using var proxy = await StartAsync(Orders(A, B, C).Policy(null, new JsonObject { ["Consecutive5xx"] = 100 }), Clock);
        using var client = Clients.Http1(proxy.Ingress);

        await SendAsync(client, 15);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_detected_total", "cluster=\"orders\",type=\"consecutive_gateway_failure\"", 1);
        Assert.Equal(0, await Enforced(proxy, "consecutive_gateway_failure"));
        Assert.Contains("c", await SendAsync(client, 6));
    }

    public static TheoryData<string, JsonObject> IntervalDetectors => new()
    {
        {
            "failure_percentage", new JsonObject
            {
                ["EnforcingFailurePercentage"] = 100, ["FailurePercentageMinimumHosts"] = 3, ["FailurePercentageRequestVolume"] = 5,
            }
        },
        {
            "success_rate", new JsonObject
            {
                ["EnforcingSuccessRate"] = 100, ["SuccessRateMinimumHosts"] = 3, ["SuccessRateRequestVolume"] = 5, ["SuccessRateStdevFactor"] = 1000,
            }
        },
    };

    [Theory]
    [MemberData(nameof(IntervalDetectors))]
    public async Task Interval_detectors_eject_at_the_next_sweep(string type, JsonObject policy)
    {
        policy["Consecutive5xx"] = 1000;
        C.Status = 500;
        await using var proxy = await StartAsync(Orders(A, B, C).Policy("orders", policy), Clock);
        using var client = Clients.Http1(proxy.Ingress);

        await SendAsync(client, 30);
        await Eventually.AssertAsync(async () => await UpstreamRequests(proxy) == 30, "every request is recorded");
        await Eventually.AssertAsync(() => Task.FromResult(Clock.TimersDue(Interval) >= 1), "the sweep is scheduled");
        Assert.Equal(0, await Detected(proxy, type));

        Clock.Advance(Interval);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", $"cluster=\"orders\",type=\"{type}\"", 1);
        await AssertTrafficGoesToAsync(client, ["a", "b"], "traffic moves to the other hosts");
    }

    [Fact]
    public async Task Client_cancellations_never_count_against_a_host()
    {
        // Three hosts, so an ejection would show (one host alone would be served in panic anyway); thresholds of 2, and
        // each host sees two cancelled requests.
        var hosts = new[] { A, B, C };
        await using var proxy = await StartAsync(Orders(hosts).Policy(null, new JsonObject { ["Consecutive5xx"] = 2, ["ConsecutiveGatewayFailure"] = 2, ["EnforcingConsecutiveGatewayFailure"] = 100 }), Clock);
        using var client = Clients.Http1(proxy.Ingress);

        // Outlier detection's series appear with the cluster's first counted outcome.
        await AssertTrafficGoesToAsync(client, ["a", "b", "c"], "every host takes traffic");
        var before = await UpstreamRequests(proxy);
        for (var i = 0; i < 2 * hosts.Length; i++)
        {
            foreach (var host in hosts)
            {
                host.Hanging = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            using var cancel = new CancellationTokenSource();
            var request = client.GetAsync("/hang", cancel.Token);
            await Task.WhenAny(hosts.Select(host => host.Hanging.Task)).WaitAsync(TimeSpan.FromSeconds(10));
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        }

        await Eventually.AssertAsync(async () => await UpstreamRequests(proxy) == before + (2 * hosts.Length), "the proxy finished the cancelled requests");
        Assert.Equal(0, await MetricsScrape.RequiredAsync(proxy, "proxymesh_outlier_detection_ejections_detected_total", "cluster=\"orders\",type=\"consecutive_5xx\""));
        Assert.Equal(0, await MetricsScrape.RequiredAsync(proxy, "proxymesh_outlier_detection_ejections_detected_total", "cluster=\"orders\",type=\"consecutive_gateway_failure\""));
        Assert.Equal(0, await MetricsScrape.RequiredAsync(proxy, "proxymesh_outlier_detection_ejections_active", "cluster=\"orders\""));
        await AssertTrafficGoesToAsync(client, ["a", "b", "c"], "every host still takes traffic");

        // The same cluster does eject a host that really fails: the cancellations above had the chance to.
        C.Status = 500;
        await SendAsync(client, 6);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"orders\",type=\"consecutive_5xx\"", 1);
        await AssertTrafficGoesToAsync(client, ["a", "b"], "the failing host is ejected");
    }

    [Fact]
    public async Task Defaults_apply_to_every_cluster_and_a_cluster_overrides_them()
    {
        await using var payments = await CommandedBackend.StartAsync("p");
        await using var paymentsFailing = await CommandedBackend.StartAsync("pf");
        paymentsFailing.Status = 500;
        B.Status = 500;
        var config = new ProxyConfig()
            .RoundRobinCluster("orders", A.Address, B.Address).Route("orders", "orders", "/orders/{**rest}")
            .RoundRobinCluster("payments", payments.Address, paymentsFailing.Address).Route("payments", "payments", "/payments/{**rest}")
            .Policy(null, new JsonObject { ["Consecutive5xx"] = 2 })
            .Policy("payments", new JsonObject { ["Enabled"] = false });
        await using var proxy = await StartAsync(config, Clock);
        using var client = Clients.Http1(proxy.Ingress);

        await SendAsync(client, 4, "/orders/x");
        await SendAsync(client, 20, "/payments/x");
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"orders\",type=\"consecutive_5xx\"", 1);
        await Eventually.AssertAsync(async () => await UpstreamRequests(proxy, "payments") == 20, "payments requests are recorded");
        Assert.Equal(0, await Detected(proxy, "consecutive_5xx", "payments"));
        Assert.Contains("pf", await SendAsync(client, 4, "/payments/x"));
    }

    [Fact]
    public async Task A_hot_reload_of_the_policy_applies()
    {
        B.Status = 500;
        var config = Orders(A, B).Policy("orders", new JsonObject { ["Enabled"] = false });
        await using var proxy = await StartAsync(config, Clock);
        using var client = Clients.Http1(proxy.Ingress);
        await SendAsync(client, 20);
        await Eventually.AssertAsync(async () => await UpstreamRequests(proxy) == 20, "requests are recorded");
        Assert.Equal(0, await Detected(proxy, "consecutive_5xx"));

        await proxy.RewriteSettingsAsync(Orders(A, B).Policy("orders", new JsonObject { ["Consecutive5xx"] = 2 }).WithoutRetries());
        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_success_total") >= 1, "the reload applies");
        await Eventually.AssertAsync(
            async () =>
            {
                await SendAsync(client, 4);
                return await Enforced(proxy, "consecutive_5xx") == 1;
            },
            "two consecutive 5xx eject after the reload");
        await AssertTrafficGoesToAsync(client, ["a"], "traffic moves to the healthy host");
    }
}
