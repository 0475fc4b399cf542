using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using HdrHistogram;

namespace ProxyMesh.Bench.Soak;

/// <summary>
/// Overload mode: measures the proxy's max throughput with wrk (closed loop, after a warm-up), then offers
/// <see cref="SoakOptions.OverloadFactor"/> times that open-loop, and right after it a quarter of it for one second.
/// Reports the share of fast 503s with <c>x-envoy-overloaded</c>, the latency of accepted requests, the RSS peak,
/// and whether the second after the overload was served normally.
/// </summary>
internal static partial class OverloadRun
{
    private const double Megabyte = 1024 * 1024;

    public static async Task<(string Markdown, bool Passed)> RunAsync(
        SoakOptions options, string publishDirectory, string work, Backends backends, RunContext context)
    {
        await using var proxy = await ProxyUnderTest.StartAsync(
            publishDirectory, work, backends, $"\"MaxActiveRequests\": {options.MaxActiveRequests}", options.ProxyCpus);
        var url = new Uri($"http://127.0.0.1:{proxy.Port}/small");
        var idleRss = ProcessSample.Read(proxy.Pid, TimeSpan.Zero).RssBytes;
        using var stopSampling = new CancellationTokenSource();
        var peakRss = SamplePeakRssAsync(proxy.Pid, stopSampling.Token);

        Console.WriteLine("overload: warming up (wrk 5 s), then measuring the max throughput (wrk -t1 -c32, 10 s)…");
        await WrkAsync(url, TimeSpan.FromSeconds(5));
        var max = await WrkAsync(url, TimeSpan.FromSeconds(10));
        var quarter = max / 4;
        await PhaseAsync(url, "warm-up", quarter, TimeSpan.FromSeconds(3));
        var before = await PhaseAsync(url, Baseline, quarter, TimeSpan.FromSeconds(5));
        var shedBefore = await ShedCountAsync(proxy.AdminPort);
        Console.WriteLine($"overload: max {max:N0} req/s; offering {options.OverloadFactor}× = {max * options.OverloadFactor:N0} req/s for {options.OverloadDuration.TotalSeconds} s…");
        var during = await PhaseAsync(url, Overload, max * options.OverloadFactor, options.OverloadDuration);
        var after = await PhaseAsync(url, Recovery, quarter, TimeSpan.FromSeconds(1));
        var shedCounted = await ShedCountAsync(proxy.AdminPort) - shedBefore;
        await stopSampling.CancelAsync();
        var peak = await peakRss;
        context.LoadAtEnd = RunContext.LoadAverage();
        var inProxy = await ProxyDurationsAsync(proxy.LogPath);

        var checks = new List<(string What, string Seen, string Limit, bool Passed)>
        {
            ("requests that failed (neither 200 nor 503)", N(during.Failed + after.Failed), "0", during.Failed + after.Failed == 0),
            ("503s without `x-envoy-overloaded: true`", N(during.ShedWithoutHeader), "0", during.ShedWithoutHeader == 0),
            ("503s not counted in `proxymesh_overload_shed_total`", N(during.Shed + after.Shed - (long)shedCounted), "0", during.Shed + after.Shed == (long)shedCounted),
            ("accepted requests' P99 at overload, in the proxy (ms)", Ms(inProxy[Overload], 99), $"≤ {options.MaxAcceptedP99Milliseconds:N0}",
                inProxy[Overload].GetValueAtPercentile(99) / 1000.0 <= options.MaxAcceptedP99Milliseconds),
            ("requests served in the second after the load drops", $"{N(after.Accepted)} of {N(after.Sent)}", "all", after.Accepted == after.Sent),
            ("P99 of that second, from due (ms)", Ms(after.AcceptedFromDue, 99), $"≤ {options.MaxAcceptedP99Milliseconds:N0}",
                after.AcceptedFromDue.GetValueAtPercentile(99) / 1000.0 <= options.MaxAcceptedP99Milliseconds),
        };
        var passed = checks.All(check => check.Passed);

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Overload at {options.OverloadFactor}× max throughput: {(passed ? "passed" : "FAILED")}");
        md.AppendLine();
        md.AppendLine(context.Describe());
        md.AppendLine(CultureInfo.InvariantCulture,
            $"ProxyMesh published in Release with its defaults (access log on, to a file) and `ProxyMesh:Overload:MaxActiveRequests` {options.MaxActiveRequests}, " +
            $"{(options.ProxyCpus is null ? "on all cores" : $"pinned to CPU {options.ProxyCpus} (taskset), as a sidecar with a CPU limit")}; " +
            $"`GET /small` (2 bytes) to a Kestrel HTTP/1.1 upstream. Max throughput: wrk -t1 -c32 for 10 s after a 5 s warm-up. Open-loop load from the harness " +
            $"(HttpClient, up to {OpenLoopGenerator.MaxConnections} connections, a fresh client per phase): a quarter of the max for 5 s (baseline), then " +
            $"{options.OverloadFactor}× for {options.OverloadDuration.TotalSeconds:0} s, and once its last answer is in, a quarter again for 1 s (recovery). " +
            $"Latency *from send* is from handing the request to HttpClient to the last byte, *from due* from when the open-loop schedule " +
            $"wanted it sent (client-side queueing included); *in the proxy* is the access log's `duration_ms` of the 200s (from the request " +
            $"reaching ProxyMesh's pipeline to its end). When the load generator and the proxy together cannot keep up with the offered rate on " +
            $"the shared cores, requests queue in the client and only the in-proxy figure describes the proxy.");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Max throughput: **{max:N0} req/s**; RSS idle {idleRss / Megabyte:N0} MB, peak **{peak / Megabyte:N0} MB**.");
        md.AppendLine();
        md.AppendLine("| phase | offered req/s | answered req/s | sent | 200 | 503 overloaded | shed share | accepted P50 / P99 in the proxy (ms) | accepted P50 / P99 from send (ms) | accepted P50 / P99 from due (ms) | 503 P50 / P99 from send (ms) |");
        md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        Row($"{Baseline} (¼ max)", before);
        Row($"{Overload} ({options.OverloadFactor}× max)", during);
        Row($"{Recovery}: the second after (¼ max)", after);
        md.AppendLine();
        md.AppendLine("| check | seen | limit | |");
        md.AppendLine("| --- | ---: | ---: | --- |");
        foreach (var (what, seen, limit, ok) in checks)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {what} | {seen} | {limit} | {(ok ? "ok" : "**FAILED**")} |");
        }

        var failures = during.Failures.Concat(after.Failures).ToList();
        if (failures.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("First failures:");
            md.AppendLine();
            failures.ForEach(failure => md.AppendLine(CultureInfo.InvariantCulture, $"- {failure}"));
        }

        return (md.ToString(), passed);

        void Row(string phase, OpenLoopResult r) => md.AppendLine(CultureInfo.InvariantCulture,
            $"| {phase} | {r.OfferedRate:N0} | {r.Sent / r.Elapsed.TotalSeconds:N0} | {N(r.Sent)} | {N(r.Accepted)} | {N(r.Shed)} | {r.ShedShare:P1} | " +
            $"{Ms(inProxy[r.Phase], 50)} / {Ms(inProxy[r.Phase], 99)} | " +
            $"{Ms(r.AcceptedFromSend, 50)} / {Ms(r.AcceptedFromSend, 99)} | {Ms(r.AcceptedFromDue, 50)} / {Ms(r.AcceptedFromDue, 99)} | " +
            $"{Ms(r.ShedFromSend, 50)} / {Ms(r.ShedFromSend, 99)} |");
    }

    private const string Baseline = "baseline";
    private const string Overload = "overload";
    private const string Recovery = "recovery";

    /// <summary>One open-loop phase on a fresh client; its requests carry <c>?phase=</c> so the access log tells them apart.</summary>
    private static async Task<OpenLoopResult> PhaseAsync(Uri url, string phase, double rate, TimeSpan duration)
    {
        using var generator = new OpenLoopGenerator(new Uri(url, $"?phase={phase}"), phase);
        return await generator.RunAsync(rate, duration);
    }

    /// <summary>The access log's <c>duration_ms</c> of every 200 per phase, in microseconds.</summary>
    private static async Task<Dictionary<string, LongHistogram>> ProxyDurationsAsync(string logPath)
    {
        var phases = new[] { Baseline, Overload, Recovery }.ToDictionary(phase => phase, _ => new LongHistogram(TimeSpan.FromSeconds(120).Ticks / 10, 3));
        await using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith('{') || !line.Contains("\"path\":\"/small?phase=", StringComparison.Ordinal))
            {
                continue;
            }

            using var entry = System.Text.Json.JsonDocument.Parse(line);
            var root = entry.RootElement;
            var phase = root.GetProperty("path").GetString()!["/small?phase=".Length..];
            if (phases.TryGetValue(phase, out var histogram) && root.GetProperty("response_code").GetInt32() == 200)
            {
                histogram.RecordValue(Math.Max(1, (long)(root.GetProperty("duration_ms").GetDouble() * 1000)));
            }
        }

        return phases;
    }

    private static async Task<long> SamplePeakRssAsync(int pid, CancellationToken stop)
    {
        var peak = 0L;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                peak = Math.Max(peak, ProcessSample.Read(pid, TimeSpan.Zero).RssBytes);
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (IOException)
            {
                break; // the proxy exited; the checks report the failed requests
            }
        }

        return peak;
    }

    /// <summary>Requests per second wrk reached (closed loop, one thread, 32 connections).</summary>
    private static async Task<double> WrkAsync(Uri url, TimeSpan duration)
    {
        var info = new ProcessStartInfo("wrk", ["-t1", "-c32", $"-d{(int)duration.TotalSeconds}s", url.ToString()]) { RedirectStandardOutput = true };
        using var wrk = Process.Start(info) ?? throw new InvalidOperationException("wrk did not start (apt-get install wrk)");
        var output = await wrk.StandardOutput.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        var match = RequestsPerSecond().Match(output);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : throw new InvalidOperationException($"wrk said:\n{output}");
    }

    private static async Task<double> ShedCountAsync(int adminPort)
    {
        using var client = new HttpClient();
        var metrics = await client.GetStringAsync(new Uri($"http://127.0.0.1:{adminPort}/metrics"));
        var match = ShedTotal().Match(metrics);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    private static string Ms(HistogramBase histogram, double percentile) =>
        histogram.TotalCount == 0 ? "—" : (histogram.GetValueAtPercentile(percentile) / 1000.0).ToString("N1", CultureInfo.InvariantCulture);

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"^proxymesh_overload_shed_total\{[^}]*reason=""max_active_requests""[^}]*\} ([0-9.e+]+)$", RegexOptions.Multiline)]
    private static partial Regex ShedTotal();
}
