using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>One Markdown table of medians, with ratios to nginx and to plain YARP.</summary>
internal static class Report
{
    public static string Render(Results results, HarnessOptions options, IReadOnlyList<Target> targets)
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        text.AppendLine(invariant, $"# Side-by-side results");
        text.AppendLine();
        text.AppendLine(invariant, $"- date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; commit: {Git(options.RepositoryRoot)}");
        text.AppendLine(invariant, $"- machine: {Environment.ProcessorCount} cores, {MemoryGiB():N0} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; .NET {Environment.Version}");
        text.AppendLine(invariant, $"- {options.Rounds} interleaved rounds of {options.Duration.TotalSeconds:N0} s per measurement after a {options.WarmUp.TotalSeconds:N0} s warm-up per target and protocol; medians; load tools on the same 2 cores; errors = non-2xx answers, socket errors and failed streams over all runs");
        text.AppendLine(invariant, $"- HTTP/1.1: `wrk -t1 -c32`; fixed rate: open loop at {options.FixedRate} req/s (latency from when each request was due); h2c and gRPC: `h2load -c8 -m16`; backend: nginx (2-byte and 64 KiB bodies) and a Kestrel h2c gRPC endpoint");
                text.AppendLine();
        text.AppendLine("| target | h1 req/s | ×nginx | ×YARP | P50 / P99 / P99.9 at fixed rate (ms) | h2c req/s | ×YARP | gRPC calls/s | ×YARP | 64 KiB req/s | first 5 s (% of steady) | RSS idle / peak (MB) | CPU s per 100k | alloc B/req | errors |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var target in targets)
        {
            var name = target.Name;
            var h1 = results.Median(name, "h1");
            var start = results.Median(name, "start");
            text.AppendLine(invariant, $"| {name} | {N(h1)} | {Ratio(results, name, "nginx", "h1")} | {Ratio(results, name, "yarp", "h1")} | {Ms(results.Median(name, "p50"))} / {Ms(results.Median(name, "p99"))} / {Ms(results.Median(name, "p999"))} | {N(results.Median(name, "h2c"))} | {Ratio(results, name, "yarp", "h2c")} | {N(results.Median(name, "grpc"))} | {Ratio(results, name, "yarp", "grpc")} | {N(results.Median(name, "64k"))} | {(start is { } s && h1 is { } steady ? (100 * s / steady).ToString("N0", invariant) + " %" : "—")} | {target.IdleRssBytes / 1e6:N0} / {results.PeakRss.GetValueOrDefault(name) / 1e6:N0} | {F(results.Median(name, "cpu"))} | {N(results.Median(name, "alloc"))} | {results.Errors.GetValueOrDefault(name)} |");
        }

        text.AppendLine();
        text.AppendLine("Targets:");
        foreach (var target in targets)
        {
            text.AppendLine(invariant, $"- `{target.Name}`: {target.Description}");
        }

        return text.ToString();
    }

    private static string Ratio(Results results, string target, string baseline, string metric) =>
        results.Median(target, metric) is { } value && results.Median(baseline, metric) is { } reference && reference > 0
            ? (value / reference).ToString("N2", CultureInfo.InvariantCulture)
            : "—";

    private static string N(double? value) => value?.ToString("N0", CultureInfo.InvariantCulture) ?? "—";

    private static string F(double? value) => value?.ToString("N2", CultureInfo.InvariantCulture) ?? "—";

    private static string Ms(double? microseconds) => microseconds is { } us ? (us / 1000).ToString("N2", CultureInfo.InvariantCulture) : "—";

    private static double MemoryGiB() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (double)(1L << 30);

    private static string Git(string root)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("git", ["-C", root, "rev-parse", "--short", "HEAD"]) { RedirectStandardOutput = true })!;
            var commit = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return commit.Length > 0 ? commit : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
