using System.Text.RegularExpressions;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>docs/stats.md against a live proxy: every metric its table lists is declared on /metrics, and /stats speaks the Envoy names it gives for cluster membership.</summary>
public sealed partial class StatsDocsTests
{
    private static readonly string StatsDoc = File.ReadAllText(Path.Combine(Repository.Root, "docs", "stats.md"));

    [Fact]
    public async Task Every_metric_in_the_stats_table_is_declared_on_a_live_metrics_endpoint()
    {
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in StatsDoc.Split('\n'))
        {
            if (!line.StartsWith("| `proxymesh_", StringComparison.Ordinal))
            {
                continue;
            }

            var metricColumn = line.Split('|')[1];
            foreach (Match name in MetricName().Matches(metricColumn))
            {
                listed.Add(name.Value);
            }
        }

        Assert.True(listed.Count >= 50, $"only {listed.Count} metrics read from docs/stats.md");
        await using var backend = await Backend.StartEchoAsync();
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("app", backend.Address).Route("app", "app"));
        using var client = Clients.Http1(proxy.Ingress);
        await client.GetStringAsync("/");
        using var admin = Clients.Http1(proxy.Admin);
        var metrics = await admin.GetStringAsync("/metrics");
        var missing = listed.Where(name => !metrics.Contains($"# TYPE {name} ", StringComparison.Ordinal)).Order().ToList();
        Assert.True(missing.Count == 0, "listed in docs/stats.md but not declared on /metrics: " + string.Join(", ", missing));

        var stats = await admin.GetStringAsync("/stats");
        Assert.Contains("`cluster.<name>.membership_total`", StatsDoc, StringComparison.Ordinal);
        Assert.Contains("`cluster.<name>.membership_healthy`", StatsDoc, StringComparison.Ordinal);
        Assert.Contains("cluster.app.membership_total: 1\n", stats, StringComparison.Ordinal);
        Assert.Contains("cluster.app.membership_healthy: 1\n", stats, StringComparison.Ordinal);
    }

    /// <summary>A full metric name (a name shortened with … is skipped: it is spelled in full elsewhere or in Envoy's column).</summary>
    [GeneratedRegex(@"(?<![\w…])proxymesh_[a-z0-9_]+(?![a-z0-9_]*…)")]
    private static partial Regex MetricName();
}
