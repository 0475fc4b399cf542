using System.Globalization;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Reads samples from a proxy's <c>/metrics</c> (Prometheus text format) on its admin listener.</summary>
public static class MetricsScrape
{
    /// <param name="labels">The label set as exposed, e.g. <c>cluster="orders"</c>; null for an unlabelled metric.</param>
    /// <returns>The sample's value, or null when the series is not exposed.</returns>
    public static async Task<double?> SampleAsync(RunningProxy proxy, string name, string? labels = null)
    {
        using var admin = Clients.Http1(proxy.Admin);
        var text = await admin.GetStringAsync("/metrics");
        var series = labels is null ? name + " " : $"{name}{{{labels}}} ";
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(series, StringComparison.Ordinal))
            {
                return double.Parse(line[series.Length..], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    public static async Task<double> ValueAsync(RunningProxy proxy, string name, string? labels = null) =>
        await SampleAsync(proxy, name, labels) ?? 0;
}
