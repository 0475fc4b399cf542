using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience;
using ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>
/// Envoy's grouped cluster stats on a live <c>/stats</c>: <c>health_check.*</c>, <c>outlier_detection.*</c> and
/// <c>circuit_breakers.default.*</c>, each after the proxy really checked a host, ejected one and overflowed a breaker;
/// every such name docs/stats.md lists is printed.
/// </summary>
public sealed partial class EnvoyGroupedStatsTests
{
    private static readonly string StatsDoc = File.ReadAllText(Path.Combine(Repository.Root, "docs", "stats.md"));

    [Fact]
    public async Task Health_check_outlier_detection_and_circuit_breaker_stats_have_envoys_dotted_names()
    {
        await using var checkedHost = await Backend.StartEchoAsync("checked");
        await using var a = await CommandedBackend.StartAsync("a");
        await using var b = await CommandedBackend.StartAsync("b");
        await using var failing = await CommandedBackend.StartAsync("c");
        failing.Status = 500;
        await using var gated = await GatedBackend.StartAsync();
        var config = new ProxyConfig()
            .Cluster("checked", checkedHost.Address).Route("checked", "checked", "/checked/{**rest}")
            .RoundRobinCluster("orders", a.Address, b.Address, failing.Address).Route("orders", "orders", "/orders/{**rest}")
            .Cluster("held", gated.Address).Route("held", "held", "/held/{**rest}")
            .ClusterPolicy("checked", "HealthCheck", new JsonObject
            {
                ["Type"] = "Http",
                ["Path"] = "/health",
                ["Interval"] = "00:00:00.100",
                ["NoTrafficInterval"] = "00:00:00.100",
            })
            .ClusterPolicy("orders", "OutlierDetection", new JsonObject { ["Consecutive5xx"] = 2 })
            .ClusterPolicy("held", "CircuitBreakers", new JsonObject { ["MaxRequests"] = 1 })
            .Defaults("Retry", new JsonObject { ["NumRetries"] = 0 });
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_cluster_membership_healthy_hosts", "cluster=\"checked\"", 1);
        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_health_check_success_total", "cluster=\"checked\"") >= 1, "a health check passed");

        for (var i = 0; i < 6; i++)
        {
            using var response = await client.GetAsync("/orders/x"); // Round robin: two 500s in a row from c.
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"orders\",type=\"consecutive_5xx\"", 1);

        using var holder = Clients.Http1(proxy.Ingress);
        var held = holder.GetAsync("/held/hold");
        await gated.WaitForHeldAsync(1);
        using (var overflowed = await client.GetAsync("/held/hold"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, overflowed.StatusCode);
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"held\"", 1);
        var stats = await StatsAsync(proxy);
        gated.Open();
        using (var released = await held)
        {
            Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        }

        Assert.True(Stat(stats, "cluster.checked.health_check.attempt") >= 1);
        Assert.True(Stat(stats, "cluster.checked.health_check.success") >= 1);
        Assert.True(Stat(stats, "cluster.checked.health_check.failure") >= 0); // printed; a check can time out on a loaded machine

        Assert.Equal(1, Stat(stats, "cluster.orders.outlier_detection.ejections_active"));
        Assert.Equal(1, Stat(stats, "cluster.orders.outlier_detection.ejections_enforced_consecutive_5xx"));
        Assert.Equal(1, Stat(stats, "cluster.orders.outlier_detection.ejections_detected_consecutive_5xx"));
        Assert.Equal(1, Stat(stats, "cluster.orders.outlier_detection.ejections_enforced_total"));
        Assert.Equal(0, Stat(stats, "cluster.orders.outlier_detection.ejections_enforced_success_rate"));
        Assert.Equal(0, Stat(stats, "cluster.orders.outlier_detection.ejections_overflow"));

        Assert.Equal(1, Stat(stats, "cluster.held.upstream_rq_pending_overflow"));
        Assert.Equal(1, Stat(stats, "cluster.held.circuit_breakers.default.rq_open"));
        Assert.Equal(0, Stat(stats, "cluster.held.circuit_breakers.default.remaining_rq"));
        Assert.Equal(0, Stat(stats, "cluster.held.circuit_breakers.default.rq_pending_open"));
        Assert.Equal(3, Stat(stats, "cluster.held.circuit_breakers.default.remaining_retries"));

        // No Prometheus spelling leaks through: labels folded into the name, not into scopes of their own.
        Assert.DoesNotContain(stats.Keys, name => name.Contains(".resource.", StringComparison.Ordinal) || name.Contains(".type.", StringComparison.Ordinal)
            || name.Contains("health_check_", StringComparison.Ordinal) || name.Contains("outlier_detection_", StringComparison.Ordinal)
            || name.Contains(".circuit_breakers_", StringComparison.Ordinal));

        var documented = DocumentedGroupedNames();
        Assert.True(documented.Count >= 15, $"only {documented.Count} grouped names read from docs/stats.md");
        var missing = documented
            .Select(name => name.Replace("<name>", ClusterExercising(name), StringComparison.Ordinal).Replace("<type>", "consecutive_5xx", StringComparison.Ordinal))
            .Where(name => !stats.ContainsKey(name))
            .ToList();
        Assert.True(missing.Count == 0, "listed in docs/stats.md but not on /stats: " + string.Join(", ", missing));
    }

    private static string ClusterExercising(string name) =>
        name.Contains(".health_check.", StringComparison.Ordinal) ? "checked"
        : name.Contains(".outlier_detection.", StringComparison.Ordinal) ? "orders"
        : "held";

    /// <summary>
    /// The Envoy column of docs/stats.md for the grouped stats: the first name is in full, the ones after it (comma
    /// separated) are its siblings, e.g. <c>`cluster.&lt;name&gt;.circuit_breakers.default.cx_open`, `rq_open`</c>.
    /// </summary>
    private static List<string> DocumentedGroupedNames()
    {
        var names = new List<string>();
        foreach (var line in StatsDoc.Split('\n'))
        {
            if (!line.StartsWith("| `proxymesh_", StringComparison.Ordinal))
            {
                continue;
            }

            var envoy = line.Split('|')[2];
            var tokens = BacktickedName().Matches(envoy).Select(match => match.Groups[1].Value).ToList();
            if (tokens.Count == 0 || !GroupPrefix().IsMatch(tokens[0]))
            {
                continue;
            }

            var prefix = tokens[0][..(tokens[0].LastIndexOf('.') + 1)];
            names.Add(tokens[0]);
            names.AddRange(tokens.Skip(1).Select(sibling => prefix + sibling));
        }

        return names;
    }

    private static async Task<Dictionary<string, double>> StatsAsync(RunningProxy proxy)
    {
        using var admin = Clients.Http1(proxy.Admin);
        var stats = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in (await admin.GetStringAsync("/stats")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = line.LastIndexOf(": ", StringComparison.Ordinal);
            stats[line[..colon]] = double.Parse(line[(colon + 2)..], CultureInfo.InvariantCulture);
        }

        return stats;
    }

    private static double Stat(Dictionary<string, double> stats, string name) =>
        stats.TryGetValue(name, out var value) ? value : throw new Xunit.Sdk.XunitException($"{name} is not on /stats: {string.Join(", ", stats.Keys.Where(key => key.StartsWith(name[..name.IndexOf('.', 8)], StringComparison.Ordinal)))}");

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex BacktickedName();

    [GeneratedRegex(@"^cluster\.<name>\.(health_check|outlier_detection|circuit_breakers)\.")]
    private static partial Regex GroupPrefix();
}
