using System.Globalization;
using System.Text;

namespace ProxyMesh.Bench.Soak;

/// <summary>Judges a soak run against the thresholds and writes it up as Markdown.</summary>
internal static class SoakReport
{
    private const double Megabyte = 1024 * 1024;

    public static (string Markdown, bool Passed) Render(SoakOptions options, SoakResult result, RunContext context)
    {
        var counted = result.Samples.Where(sample => sample.Elapsed >= options.WarmUp).ToList();
        var checks = new List<(string What, string Seen, string Limit, bool Passed)>();
        var errors = result.Kinds.Sum(kind => kind.Failed);
        checks.Add(("errors (no fault is injected: every failure counts)", N(errors), "0", errors == 0));
        checks.Add(("proxy process still running", result.ProxyExited ? "exited" : "yes", "yes", !result.ProxyExited));

        var half = options.WarmUp + (options.Duration - options.WarmUp) / 2;
        var secondHalf = counted.Where(sample => sample.Elapsed >= half).ToList();
        var judged = secondHalf.Count >= 3 ? secondHalf : counted;
        if (counted.Count >= 4)
        {
            var slope = SlopePerMinute(judged, sample => sample.RssBytes);
            checks.Add(("RSS slope, second half (MB/min)", F(slope, 2), $"≤ {F(options.MaxRssSlopeMbPerMinute, 2)}", slope <= options.MaxRssSlopeMbPerMinute));
            if (result.RuntimeCountersRead)
            {
                var heap = judged.Where(sample => sample.Runtime is not null).ToList();
                var heapSlope = heap.Count >= 3 ? SlopePerMinute(heap, sample => sample.Runtime!.HeapBytes) : double.NaN;
                checks.Add(("GC heap after the last collection, slope, second half (MB/min)", F(heapSlope, 2), $"≤ {F(options.MaxHeapSlopeMbPerMinute, 2)}",
                    heapSlope <= options.MaxHeapSlopeMbPerMinute));
            }

            var (first, last) = (counted[0], counted[^1]);
            checks.Add(("threads, last − first", N(last.Threads - first.Threads), $"≤ {options.MaxThreadGrowth}", last.Threads - first.Threads <= options.MaxThreadGrowth));
            checks.Add(("open handles, last − first", N(last.Handles - first.Handles), $"≤ {options.MaxHandleGrowth}", last.Handles - first.Handles <= options.MaxHandleGrowth));
            checks.Add(("TCP connections, last − first", N(last.TcpConnections - first.TcpConnections), $"≤ {options.MaxConnectionGrowth}",
                last.TcpConnections - first.TcpConnections <= options.MaxConnectionGrowth));
        }
        else
        {
            checks.Add(("samples after the warm-up", N(counted.Count), "≥ 4", false));
        }

        var passed = checks.All(check => check.Passed);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Soak: {(passed ? "passed" : "FAILED")}");
        md.AppendLine();
        md.AppendLine(context.Describe());
        md.AppendLine(CultureInfo.InvariantCulture,
            $"Duration {options.Duration:g} (warm-up {options.WarmUp:g} not judged), samples every {options.SampleInterval.TotalSeconds:0.#} s. Offered load: " +
            $"HTTP/1.1 {options.HttpRate}/s (GET and 1 KiB echo POST), h2c {options.H2cRate}/s (to an h2c and an HTTP/1.1 upstream), " +
            $"gRPC server streaming {options.GrpcStreamRate} calls/s × {options.GrpcMessagesPerStream} messages, WebSocket {options.WebSocketMessageRate} messages/s over " +
            $"{options.WebSocketConnections} connections (each closed and reopened after 100 messages), a config reload (route and cluster added or removed) every " +
            $"{options.ReloadInterval.TotalSeconds:0.#} s. The proxy runs with {Arenas(options.MallocArenaMax)}.");
        md.AppendLine();
        md.AppendLine("| traffic | succeeded | failed | per second |");
        md.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var kind in result.Kinds)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {kind.Name} ({kind.Unit}) | {N(kind.Succeeded)} | {N(kind.Failed)} | {F(kind.Succeeded / options.Duration.TotalSeconds, 1)} |");
        }

        if (result.ReloadApplyTimes.Count > 0)
        {
            var times = result.ReloadApplyTimes.Select(time => time.TotalSeconds).Order().ToList();
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture,
                $"Config file rewritten → new route served: median {F(times[times.Count / 2], 2)} s, max {F(times[^1], 2)} s (the proxy waits 250 ms for writers to finish).");
        }

        if (counted.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("| proxy process | first (after warm-up) | last | min | max | 5 s after the load | slope, second half (per min) |");
            md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            Row("RSS (MB)", sample => sample.RssBytes / Megabyte);
            Row("… anonymous: GC heap, native allocations, stacks (MB)", sample => sample.RssAnonBytes / Megabyte);
            Row("… file-backed: mapped assemblies and libraries (MB)", sample => sample.RssFileBytes / Megabyte);
            Row("… shared: JIT-compiled code, double-mapped (MB)", sample => sample.RssShmemBytes / Megabyte);
            Row("`dotnet_total_memory_bytes`: managed, live and not yet collected (MB)", sample => sample.TotalMemoryBytes / Megabyte);
            Row("GC heap after the last collection (MB)", sample => sample.Runtime?.HeapBytes / Megabyte);
            Row("… of which gen2 (MB)", sample => sample.Runtime?.Gen2Bytes / Megabyte);
            Row("… free space inside it, fragmentation (MB)", sample => sample.Runtime?.FragmentationBytes / Megabyte);
            Row("GC committed (MB)", sample => sample.Runtime?.CommittedBytes / Megabyte);
            Row("gen2 collections (count)", sample => sample.Gen2Collections);
            Row("methods JIT-compiled since the start (count)", sample => sample.Runtime?.JitCompiledMethods);
            Row("threads", sample => sample.Threads);
            Row("open handles", sample => sample.Handles);
            Row("TCP connections", sample => sample.TcpConnections);

            void Row(string name, Func<ProcessSample, double?> value)
            {
                var known = counted.Where(sample => value(sample) is not null).ToList();
                if (known.Count == 0)
                {
                    return;
                }

                var slopeSamples = judged.Where(sample => value(sample) is not null).ToList();
                var slope = slopeSamples.Count >= 3 ? F(SlopePerMinute(slopeSamples, sample => value(sample)!.Value * Megabyte) , 2) : "—";
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {name} | {F(value(known[0])!.Value, 1)} | {F(value(known[^1])!.Value, 1)} | {F(known.Min(sample => value(sample)!.Value), 1)} | " +
                    $"{F(known.Max(sample => value(sample)!.Value), 1)} | {(result.AfterLoad is { } after && value(after) is { } afterValue ? F(afterValue, 1) : "—")} | {slope} |");
            }

            if (!result.RuntimeCountersRead)
            {
                md.AppendLine();
                md.AppendLine("The GC heap rows are missing: dotnet-counters was not found (`dotnet tool install -g dotnet-counters`, or `--tools DIR`).");
            }
        }

        if (result.HeapDumps.Count == 2)
        {
            var (before, after) = (result.HeapDumps[0], result.HeapDumps[1]);
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture,
                $"Live heap by type (dotnet-gcdump, each after a full blocking GC): {F(before.HeapBytes / Megabyte, 2)} MB in {N(before.Objects)} objects at " +
                $"{before.Elapsed:mm\\:ss}, {F(after.HeapBytes / Megabyte, 2)} MB in {N(after.Objects)} objects at {after.Elapsed:mm\\:ss}. The types that grew most:");
            md.AppendLine();
            md.AppendLine("| type | bytes before | bytes after | objects before | objects after |");
            md.AppendLine("| --- | ---: | ---: | ---: | ---: |");
            foreach (var (type, bytesBefore, bytesAfter, countBefore, countAfter) in HeapDumps.Growth(before, after, 12))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| `{type.Replace("|", "\\|", StringComparison.Ordinal)}` | {N(bytesBefore)} | {N(bytesAfter)} | {N(countBefore)} | {N(countAfter)} |");
            }
        }

        md.AppendLine();
        md.AppendLine("| check | seen | limit | |");
        md.AppendLine("| --- | ---: | ---: | --- |");
        foreach (var (what, seen, limit, ok) in checks)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {what} | {seen} | {limit} | {(ok ? "ok" : "**FAILED**")} |");
        }

        var failures = result.Kinds.SelectMany(kind => kind.Failures.Select(failure => $"- {kind.Name}: {failure}")).ToList();
        if (failures.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("First failures:");
            md.AppendLine();
            failures.ForEach(line => md.AppendLine(line));
        }

        md.AppendLine();
        md.AppendLine("RSS over time (MB, every sample):");
        md.AppendLine();
        md.AppendLine("```");
        md.AppendLine(string.Join(' ', result.Samples.Select(sample => F(sample.RssBytes / Megabyte, 0))));
        md.AppendLine("```");
        if (result.RuntimeCountersRead)
        {
            md.AppendLine();
            md.AppendLine("GC heap after the last collection over time (MB, every sample):");
            md.AppendLine();
            md.AppendLine("```");
            md.AppendLine(string.Join(' ', result.Samples.Select(sample => sample.Runtime is { } runtime ? F(runtime.HeapBytes / Megabyte, 1) : "—")));
            md.AppendLine("```");
        }
        return (md.ToString(), passed);
    }

    /// <summary>Least-squares slope of <paramref name="bytes"/> against time, in MB per minute.</summary>
    private static double SlopePerMinute(IReadOnlyList<ProcessSample> samples, Func<ProcessSample, double> bytes)
    {
        var meanX = samples.Average(sample => sample.Elapsed.TotalMinutes);
        var meanY = samples.Average(sample => bytes(sample) / Megabyte);
        var covariance = samples.Sum(sample => (sample.Elapsed.TotalMinutes - meanX) * (bytes(sample) / Megabyte - meanY));
        var variance = samples.Sum(sample => Math.Pow(sample.Elapsed.TotalMinutes - meanX, 2));
        return variance == 0 ? 0 : covariance / variance;
    }

    private static string Arenas(int mallocArenaMax) => mallocArenaMax > 0
        ? $"`MALLOC_ARENA_MAX={mallocArenaMax}` (as deploy/Dockerfile sets it)"
        : "glibc's default malloc arenas (no `MALLOC_ARENA_MAX`)";

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string F(double value, int decimals) => value.ToString("N" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
