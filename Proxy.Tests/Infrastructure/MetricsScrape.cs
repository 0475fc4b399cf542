using System.Globalization;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Reads samples from a proxy's <c>/metrics</c> (Prometheus text format) on its admin listener.</summary>
public static class MetricsScrape
{
    private static readonly string[] IdentityLabels = ["source_service", "source_zone"];

    /// <param name="labels">The labels to match, e.g. <c>cluster="orders"</c>; the sidecar's identity labels may be left out, others may not.</param>
    /// <returns>The sample's value, or null when the series is not exposed.</returns>
    public static async Task<double?> SampleAsync(RunningProxy proxy, string name, string? labels = null)
    {
        using var admin = Clients.Http1(proxy.Admin);
        var text = await admin.GetStringAsync("/metrics");
        var wanted = ParseLabels(labels ?? "");
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal) || line.Length == name.Length
                || (line[name.Length] != '{' && line[name.Length] != ' '))
            {
                continue;
            }

            var space = line.LastIndexOf(' ');
            var have = line[name.Length] == '{' ? ParseLabels(line[(name.Length + 1)..line.LastIndexOf('}')]) : [];
            if (Matches(wanted, have))
            {
                return double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    public static async Task<double> ValueAsync(RunningProxy proxy, string name, string? labels = null) =>
        await SampleAsync(proxy, name, labels) ?? 0;

    /// <summary>The sample's value; fails the test when the series is not exposed (where 0 and absent must not be confused).</summary>
    public static async Task<double> RequiredAsync(RunningProxy proxy, string name, string? labels = null) =>
        await SampleAsync(proxy, name, labels) ?? throw new Xunit.Sdk.XunitException($"{name}{{{labels}}} is not exposed on /metrics");

    private static bool Matches(Dictionary<string, string> wanted, Dictionary<string, string> have)
    {
        foreach (var (key, value) in have)
        {
            if (wanted.TryGetValue(key, out var expected) ? expected != value : !IdentityLabels.Contains(key))
            {
                return false;
            }
        }

        return wanted.Keys.All(have.ContainsKey);
    }

    /// <summary>Parses <c>a="1",b="2"</c> (test label values hold no commas or quotes).</summary>
    private static Dictionary<string, string> ParseLabels(string labels)
    {
        var parsed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in labels.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            parsed[pair[..equals]] = pair[(equals + 1)..].Trim('"');
        }

        return parsed;
    }

    /// <summary>
    /// Waits until a sample reaches the expected value: stats are recorded as a request unwinds through the proxy,
    /// which can be just after the client has read the whole response.
    /// </summary>
    public static async Task AssertEventuallyAsync(RunningProxy proxy, string name, string? labels, double expected)
    {
        double? actual = null;
        var reached = await Eventually.TrueAsync(async () => (actual = await SampleAsync(proxy, name, labels) ?? 0) == expected);
        Assert.True(reached, $"{name}{{{labels}}}: expected {expected}, was {actual}");
    }
}
