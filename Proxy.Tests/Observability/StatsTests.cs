using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>Scripted traffic moves every stat by exactly the expected amount, and /metrics passes promtool.</summary>
public sealed class StatsTests : IAsyncLifetime
{
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            switch (context.Request.Path.Value)
            {
                case "/fail":
                    context.Response.StatusCode = 500;
                    break;
                case "/slow":
                    await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
                    break;
                default:
                    await context.Response.WriteAsync("ok");
                    break;
            }
        }));
        var config = new ProxyConfig()
            .Cluster("app", _backend.Address)
            .Cluster("nowhere", $"http://127.0.0.1:{ProxyProcess.FreePort()}")
            .Route("app", "app", path: "/app/{**rest}")
            .Route("nowhere", "nowhere", path: "/nowhere/{**rest}")
            .Cluster("impatient", _backend.Address)
            .Route("slow", "impatient", path: "/slow");

        // Only the slow route's cluster is impatient: a first request on a cold proxy may take longer than that.
        config.Root["ProxyMesh"]!["Clusters"] = new JsonObject
        {
            ["impatient"] = new JsonObject { ["Timeouts"] = new JsonObject { ["Route"] = "00:00:00.300" } },
        };
        config.Routes["app"]!["Transforms"] = new JsonArray(new JsonObject { ["PathPattern"] = "/{**rest}" });

        // One attempt per request, so that every upstream outcome shows once (retries have their own tests).
        config.Root["ProxyMesh"]!["Defaults"] = new JsonObject { ["Retry"] = new JsonObject { ["NumRetries"] = 0 } };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    private Task<double> Value(string name, string labels) => MetricsScrape.ValueAsync(_proxy, name, labels);

    [Fact]
    public async Task Each_kind_of_outcome_moves_its_stats_by_exactly_the_scripted_amount()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/app/ok")).StatusCode);
        }

        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.InternalServerError, (await client.GetAsync("/app/fail")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.GatewayTimeout, (await client.GetAsync("/slow")).StatusCode);
        Assert.Equal(HttpStatusCode.BadGateway, (await client.GetAsync("/nowhere/x")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/unrouted")).StatusCode);

        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_total", "cluster=\"app\",route=\"app\",response_code=\"200\",response_code_class=\"2xx\"", 3);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_total", "cluster=\"app\",route=\"app\",response_code=\"500\",response_code_class=\"5xx\"", 2);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_total", "cluster=\"impatient\",route=\"slow\",response_code=\"504\",response_code_class=\"5xx\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_timeout_total", "cluster=\"impatient\",route=\"slow\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_timeout_total", "cluster=\"app\",route=\"app\"", 0);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_total", "cluster=\"nowhere\",route=\"nowhere\",response_code=\"502\",response_code_class=\"5xx\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"nowhere\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_time_seconds_count", "cluster=\"app\",route=\"app\"", 5);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_time_seconds_bucket", "cluster=\"app\",route=\"app\",le=\"+Inf\"", 5);
        Assert.True(await Value("proxymesh_upstream_cx_tx_bytes_total", "cluster=\"app\"") > 0);
        Assert.True(await Value("proxymesh_upstream_cx_rx_bytes_total", "cluster=\"app\"") > 0);
        Assert.InRange(await Value("proxymesh_upstream_cx_total", "cluster=\"app\""), 1, 3);

        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_downstream_rq_total", "listener=\"ingress\",response_code_class=\"2xx\"", 3);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_downstream_rq_total", "listener=\"ingress\",response_code_class=\"5xx\"", 4);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_downstream_rq_total", "listener=\"ingress\",response_code_class=\"4xx\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_downstream_rq_time_seconds_count", "listener=\"ingress\"", 8);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_downstream_cx_total", "listener=\"ingress\"", 1);
    }

    [Fact]
    public async Task The_histogram_resolves_sub_millisecond_to_a_minute()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        await client.GetAsync("/app/ok");
        using var admin = Clients.Http1(_proxy.Admin);
        var bounds = (await admin.GetStringAsync("/metrics")).Split('\n')
            .Where(line => line.StartsWith("proxymesh_upstream_rq_time_seconds_bucket{cluster=\"app\",route=\"app\"", StringComparison.Ordinal))
            .Select(line => line[(line.IndexOf("le=\"", StringComparison.Ordinal) + 4)..line.LastIndexOf('"')])
            .Where(bound => bound != "+Inf")
            .Select(bound => double.Parse(bound, System.Globalization.CultureInfo.InvariantCulture))
            .ToArray();
        Assert.Equal(0.0005, bounds.Min());
        Assert.InRange(bounds.Max(), 60, 100);
        Assert.All(bounds.Order().Zip(bounds.Order().Skip(1)), pair => Assert.InRange(pair.Second / pair.First, 1.49, 1.51));
    }

    [Fact]
    public async Task Per_host_stats_are_off_by_default_and_opt_in()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        await client.GetAsync("/app/ok");
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_time_seconds_count", "cluster=\"app\",route=\"app\"", 1);
        using (var admin = Clients.Http1(_proxy.Admin))
        {
            Assert.DoesNotContain("proxymesh_upstream_host_rq_total{", await admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
        }

        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Stats"] = new JsonObject { ["PerHost"] = true };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var perHostClient = Clients.Http1(proxy.Ingress);
        await perHostClient.GetAsync("/ok");
        await perHostClient.GetAsync("/fail");
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_host_rq_total", "cluster=\"app\",host=\"d0\",response_code_class=\"2xx\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_host_rq_total", "cluster=\"app\",host=\"d0\",response_code_class=\"5xx\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_host_rq_time_seconds_count", "cluster=\"app\",host=\"d0\"", 2);
    }

    [Fact]
    public async Task Stats_text_view_speaks_envoy_names()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        await client.GetAsync("/app/ok");
        await client.GetAsync("/app/fail");
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_time_seconds_count", "cluster=\"app\",route=\"app\"", 2);
        using var admin = Clients.Http1(_proxy.Admin);
        var stats = await admin.GetStringAsync("/stats");
        Assert.True(stats.Contains("cluster.app.route.app.upstream_rq_2xx: 1\n", StringComparison.Ordinal), stats);
        Assert.Contains("cluster.app.route.app.upstream_rq_500: 1\n", stats, StringComparison.Ordinal);
        Assert.Contains("cluster.app.route.app.upstream_rq_total: 2\n", stats, StringComparison.Ordinal);
        Assert.Contains("cluster.app.upstream_cx_total: ", stats, StringComparison.Ordinal);
        Assert.Contains("listener.ingress.downstream_rq_2xx: 1\n", stats, StringComparison.Ordinal);
        Assert.Contains("cluster.app.membership_healthy: 1\n", stats, StringComparison.Ordinal); // Envoy's names, as docs/stats.md lists them
        Assert.Contains("cluster.app.membership_total: 1\n", stats, StringComparison.Ordinal);
        Assert.DoesNotContain("membership_healthy_hosts", stats, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Promtool_finds_nothing_wrong_with_live_metrics()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        await client.GetAsync("/app/ok");
        await client.GetAsync("/nowhere/x");
        using var admin = Clients.Http1(_proxy.Admin);
        var metrics = await admin.GetStringAsync("/metrics");

        var start = new ProcessStartInfo("promtool", "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        Process promtool;
        try
        {
            promtool = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("promtool is missing: apt-get install prometheus (.ci/run installs it)", e);
        }

        using (promtool)
        {
            await promtool.StandardInput.WriteAsync(metrics);
            promtool.StandardInput.Close();
            var output = await promtool.StandardOutput.ReadToEndAsync() + await promtool.StandardError.ReadToEndAsync();
            await promtool.WaitForExitAsync();
            Assert.True(promtool.ExitCode == 0 && output.Length == 0, $"promtool check metrics: exit {promtool.ExitCode}: {output}");
        }
    }
}
