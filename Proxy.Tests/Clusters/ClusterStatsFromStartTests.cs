using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience;

namespace ProxyMesh.Proxy.Tests.Clusters;

/// <summary>
/// A configured cluster's stats are on <c>/metrics</c> at 0 before its first request, as Envoy exports its cluster
/// stats; outlier detection's only where it is on, health checks' only where the cluster is health-checked.
/// </summary>
public sealed class ClusterStatsFromStartTests : IAsyncLifetime
{
    private Backend _backend = null!;

    public async Task InitializeAsync() => _backend = await Backend.StartEchoAsync("echo");

    public async Task DisposeAsync() => await _backend.DisposeAsync();

    /// <summary>The series every cluster has from the start (name, extra labels).</summary>
    private static readonly (string Name, string Labels)[] EveryCluster =
    [
        ("proxymesh_upstream_rq_retry_total", ""),
        ("proxymesh_upstream_rq_retry_success_total", ""),
        ("proxymesh_upstream_rq_retry_or_shadow_abandoned_total", ""),
        ("proxymesh_upstream_rq_retry_overflow_total", ""),
        ("proxymesh_upstream_cx_total", ""),
        ("proxymesh_upstream_cx_active", ""),
        ("proxymesh_upstream_cx_connect_fail_total", ""),
        ("proxymesh_upstream_cx_protocol_error_total", ""),
        ("proxymesh_upstream_cx_rx_bytes_total", ""),
        ("proxymesh_upstream_cx_tx_bytes_total", ""),
        ("proxymesh_lb_healthy_panic_total", ""),
        ("proxymesh_upstream_rq_pending_overflow_total", ""),
        ("proxymesh_upstream_cx_overflow_total", ""),
        ("proxymesh_circuit_breakers_open", ",resource=\"rq\""),
    ];

    private static readonly (string Name, string Labels)[] OutlierDetection =
    [
        ("proxymesh_outlier_detection_ejections_active", ""),
        ("proxymesh_outlier_detection_ejections_overflow_total", ""),
        .. new[] { "consecutive_5xx", "consecutive_gateway_failure", "success_rate", "failure_percentage" }.SelectMany(type => new[]
        {
            ("proxymesh_outlier_detection_ejections_enforced_total", $",type=\"{type}\""),
            ("proxymesh_outlier_detection_ejections_detected_total", $",type=\"{type}\""),
        }),
    ];

    [Fact]
    public async Task A_cluster_exports_its_stats_at_zero_from_the_start_and_from_the_reload_that_adds_it()
    {
        var config = new ProxyConfig()
            .Cluster("app", _backend.Address).Route("app", "app")
            .Cluster("plain", _backend.Address).Route("plain", "plain", path: "/plain/{**rest}")
            .ClusterPolicy("plain", "OutlierDetection", new JsonObject { ["Enabled"] = false });
        await using var proxy = await RunningProxy.StartAsync(config);

        foreach (var (name, labels) in EveryCluster.Concat(OutlierDetection))
        {
            Assert.Equal(0, await MetricsScrape.RequiredAsync(proxy, name, $"cluster=\"app\"{labels}"));
        }

        foreach (var (name, labels) in EveryCluster)
        {
            Assert.Equal(0, await MetricsScrape.RequiredAsync(proxy, name, $"cluster=\"plain\"{labels}"));
        }

        Assert.Null(await MetricsScrape.SampleAsync(proxy, "proxymesh_outlier_detection_ejections_active", "cluster=\"plain\""));
        Assert.Null(await MetricsScrape.SampleAsync(proxy, "proxymesh_health_check_attempt_total", "cluster=\"app\""));
        using var admin = Clients.Http1(proxy.Admin);
        Assert.Equal("", await Promtool.CheckMetricsAsync(await admin.GetStringAsync("/metrics")));

        await proxy.RewriteSettingsAsync(config.Cluster("added", _backend.Address).Route("added", "added", path: "/added/{**rest}"));
        await Eventually.AssertAsync(
            async () => await MetricsScrape.SampleAsync(proxy, "proxymesh_outlier_detection_ejections_active", "cluster=\"added\"") == 0,
            "a cluster added by a reload is exported without traffic");
        foreach (var (name, labels) in EveryCluster.Concat(OutlierDetection))
        {
            Assert.Equal(0, await MetricsScrape.RequiredAsync(proxy, name, $"cluster=\"added\"{labels}"));
        }
    }

    [Fact]
    public async Task A_health_checked_cluster_exports_its_health_check_stats_at_zero_before_the_first_check()
    {
        var config = Resilience.HealthChecks.HealthCheckTests.WithHealthCheck(
            new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app"),
            "app",
            new JsonObject { ["Type"] = "Http", ["Path"] = "/health", ["Interval"] = "01:00:00", ["InitialJitter"] = "00:00:00" });
        await using var proxy = await RunningProxy.StartAsync(config);

        foreach (var name in new[] { "proxymesh_health_check_attempt_total", "proxymesh_health_check_success_total", "proxymesh_health_check_failure_total" })
        {
            await Eventually.AssertAsync(
                async () => await MetricsScrape.SampleAsync(proxy, name, "cluster=\"app\"") is not null,
                $"{name} is exported for a health-checked cluster");
        }
    }
}
