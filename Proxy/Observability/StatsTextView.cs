using System.Globalization;
using System.Text;
using Prometheus;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Envoy's <c>/stats</c> text view of the same stats that <c>/metrics</c> exposes, for people at a shell:
/// <c>cluster.orders.upstream_rq_2xx: 12</c>. Series labelled by response code are also summed by code class and
/// in all, as Envoy keeps <c>upstream_rq_503</c>, <c>upstream_rq_5xx</c> and <c>upstream_rq_total</c>; health check,
/// outlier detection and circuit breaker series take Envoy's grouped names (<see cref="GroupedNames"/>).
/// </summary>
internal static class StatsTextView
{
    private const string Prefix = "proxymesh_";

    public static async Task WriteAsync(CollectorRegistry registry, HttpResponse response, CancellationToken cancellationToken)
    {
        using var exposition = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(exposition, cancellationToken);
        var stats = Convert(Encoding.UTF8.GetString(exposition.GetBuffer(), 0, (int)exposition.Length));
        var text = new StringBuilder();
        foreach (var (name, value) in stats)
        {
            text.Append(name).Append(": ").Append(value.ToString(value % 1 == 0 ? "0" : "0.######", CultureInfo.InvariantCulture)).Append('\n');
        }

        response.ContentType = "text/plain; charset=utf-8";
        await response.WriteAsync(text.ToString(), cancellationToken);
    }

    internal static SortedDictionary<string, double> Convert(string exposition)
    {
        var stats = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in exposition.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#' || !TryParse(line, out var metric, out var labels, out var value)
                || metric.EndsWith("_bucket", StringComparison.Ordinal))
            {
                continue;
            }

            labels.Remove("source_service");
            labels.Remove("source_zone");
            var scope = labels.Remove("cluster", out var cluster) ? $"cluster.{cluster}."
                : labels.Remove("listener", out var listener) ? $"listener.{listener}."
                : "server.";
            var name = metric.StartsWith(Prefix, StringComparison.Ordinal) ? metric[Prefix.Length..] : metric;
            if (scope.StartsWith("cluster.", StringComparison.Ordinal) && name.StartsWith("cluster_", StringComparison.Ordinal))
            {
                name = name["cluster_".Length..];
            }

            if (scope.StartsWith("cluster.", StringComparison.Ordinal) && GroupedNames(name, labels) is { } grouped)
            {
                foreach (var groupedName in grouped)
                {
                    Add(stats, scope + groupedName, value);
                }

                continue;
            }

            labels.Remove("response_code", out var code);
            labels.Remove("response_code_class", out var codeClass);
            var qualifier = new StringBuilder(scope);
            foreach (var (label, labelValue) in labels.OrderBy(pair => pair.Key, StringComparer.Ordinal))
            {
                qualifier.Append(label).Append('.').Append(labelValue).Append('.');
            }

            if (codeClass is null)
            {
                Add(stats, qualifier.Append(EnvoyName(name)).ToString(), value);
                continue;
            }

            // upstream_rq_total{response_code="503",response_code_class="5xx"} → upstream_rq_503, upstream_rq_5xx, upstream_rq_total
            var stem = name.EndsWith("_total", StringComparison.Ordinal) ? name[..^"_total".Length] : name;
            Add(stats, $"{qualifier}{stem}_total", value);
            Add(stats, $"{qualifier}{stem}_{codeClass}", value);
            if (code is not null)
            {
                Add(stats, $"{qualifier}{stem}_{code}", value);
            }
        }

        return stats;
    }

    /// <summary>
    /// Drops the Prometheus <c>_total</c> suffix, except where Envoy's own name has it (<c>upstream_cx_total</c>,
    /// <c>upstream_cx_rx_bytes_total</c>); membership gauges take Envoy's names (<c>membership_total</c>, <c>membership_healthy</c>).
    /// </summary>
    private static string EnvoyName(string name)
    {
        if (name == "membership_hosts")
        {
            return "membership_total";
        }

        if (name == "membership_healthy_hosts")
        {
            return "membership_healthy";
        }

        if (!name.EndsWith("_total", StringComparison.Ordinal))
        {
            return name;
        }

        var stem = name[..^"_total".Length];
        return stem.EndsWith("_cx", StringComparison.Ordinal) || stem.EndsWith("_rq", StringComparison.Ordinal) || stem.EndsWith("_bytes", StringComparison.Ordinal)
            ? name
            : stem;
    }

    /// <summary>
    /// Envoy's grouped cluster stats (https://www.envoyproxy.io/docs/envoy/latest/configuration/upstream/cluster_manager/cluster_stats):
    /// <c>health_check.*</c>, <c>outlier_detection.*</c> (per detector, and <c>ejections_enforced_total</c> over all
    /// detectors) and <c>circuit_breakers.&lt;priority&gt;.*</c>, where the priority is always <c>default</c> (ProxyMesh
    /// has no routing priorities). The label that Envoy spells into the name (<c>type</c>, <c>resource</c>) is consumed.
    /// </summary>
    /// <returns>The names the sample adds to, or null when the series is not one of these groups.</returns>
    private static string[]? GroupedNames(string name, Dictionary<string, string> labels)
    {
        const string HealthCheck = "health_check_";
        if (name.StartsWith(HealthCheck, StringComparison.Ordinal) && name.EndsWith("_total", StringComparison.Ordinal))
        {
            return [$"health_check.{name[HealthCheck.Length..^"_total".Length]}"];
        }

        return name switch
        {
            "outlier_detection_ejections_active" => ["outlier_detection.ejections_active"],
            "outlier_detection_ejections_overflow_total" => ["outlier_detection.ejections_overflow"],
            "outlier_detection_ejections_enforced_total" when labels.Remove("type", out var type) =>
                [$"outlier_detection.ejections_enforced_{type}", "outlier_detection.ejections_enforced_total"],
            "outlier_detection_ejections_detected_total" when labels.Remove("type", out var type) => [$"outlier_detection.ejections_detected_{type}"],
            "circuit_breakers_open" when labels.Remove("resource", out var resource) => [$"circuit_breakers.default.{resource}_open"],
            "circuit_breakers_remaining" when labels.Remove("resource", out var resource) => [$"circuit_breakers.default.remaining_{RemainingName(resource)}"],
            _ => null,
        };
    }

    /// <summary>Envoy's <c>remaining_*</c> gauges name the pending and retry resources differently from the <c>*_open</c> ones.</summary>
    private static string RemainingName(string resource) => resource switch
    {
        "rq_pending" => "pending",
        "rq_retry" => "retries",
        _ => resource,
    };

    private static void Add(SortedDictionary<string, double> stats, string name, double value) =>
        stats[name] = stats.GetValueOrDefault(name) + value;

    /// <summary>Parses <c>name{a="1",b="x\"y"} value</c>.</summary>
    private static bool TryParse(string line, out string metric, out Dictionary<string, string> labels, out double value)
    {
        labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var brace = line.IndexOf('{', StringComparison.Ordinal);
        var space = line.LastIndexOf(' ');
        metric = line[..(brace >= 0 ? brace : Math.Max(space, 0))];
        if (space < 0 || !double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        {
            value = 0;
            return false;
        }

        if (brace < 0)
        {
            return true;
        }

        var i = brace + 1;
        while (i < line.Length && line[i] != '}')
        {
            var equals = line.IndexOf('=', i);
            var label = line[i..equals];
            var text = new StringBuilder();
            var j = equals + 2;
            for (; line[j] != '"'; j++)
            {
                text.Append(line[j] == '\\' ? line[++j] switch { 'n' => '\n', var escaped => escaped } : line[j]);
            }

            labels[label] = text.ToString();
            i = j + 1;
            if (i < line.Length && line[i] == ',')
            {
                i++;
            }
        }

        return true;
    }
}
