using System.Globalization;

namespace ProxyMesh.Bench.Soak;

/// <summary>Reads one sample out of a Prometheus text exposition (the proxy's /metrics).</summary>
internal static class PrometheusText
{
    /// <summary>The value of the first series named <paramref name="name"/> whose labels contain <paramref name="label"/>; null when there is none.</summary>
    public static double? Value(string exposition, string name, string? label = null)
    {
        foreach (var line in exposition.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length == name.Length || line[name.Length] is not ('{' or ' '))
            {
                continue;
            }

            var space = line.LastIndexOf(' ');
            if ((label is null || line.AsSpan(0, space).Contains(label, StringComparison.Ordinal))
                && double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }
        }

        return null;
    }
}
