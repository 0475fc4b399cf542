using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using HdrHistogram;

namespace ProxyMesh.Bench.Soak;

/// <summary>
/// Overload mode, per protocol (HTTP/1.1, h2c, gRPC unary), each against a fresh proxy: measures the proxy's max
/// throughput (closed loop, after a warm-up: wrk for HTTP/1.1, h2load for h2c and gRPC), then offers
/// <see cref="SoakOptions.OverloadFactor"/> times that open-loop, and right after it a quarter of it for one second.
/// Reports the share of fast refusals with <c>x-envoy-overloaded</c>, the latency of accepted requests, the RSS peak,
/// and whether the second after the overload was served normally.
/// </summary>
internal static partial class OverloadRun
{
    private const double Megabyte = 1024 * 1024;
    private const string Baseline = "baseline";
    private const string Overload = "overload";
    private const string Recovery = "recovery";

    public static async Task<(string Markdown, bool Passed)> RunAsync(
        SoakOptions options, string publishDirectory, string work, Backends backends, RunContext context)
    {
        var sections = new List<(string Markdown, bool Passed)>();
        foreach (var protocol in options.Protocols)
        {
            sections.Add(await RunProtocolAsync(options, protocol, publishDirectory, Path.Combine(work, protocol.ToString().ToLowerInvariant()), backends));
        }

        context.LoadAtEnd = RunContext.LoadAverage();
        var passed = sections.All(section => section.Passed);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Overload at {options.OverloadFactor}× max throughput: {(passed ? "passed" : "FAILED")}");
        md.AppendLine();
        md.AppendLine(context.Describe());
        md.AppendLine(CultureInfo.InvariantCulture,
            $"ProxyMesh published in Release with its defaults (access log on, to a file), the overload limits given in each section and " +
            $"`ProxyMesh:Limits:MaxConcurrentStreams` {options.MaxConcurrentStreams}, " +
            $"{(options.ProxyCpus is null ? "on all cores" : $"pinned to CPU {options.ProxyCpus} (taskset), as a sidecar with a CPU limit")}" +
            $"{(options.MallocArenaMax > 0 ? $", `MALLOC_ARENA_MAX={options.MallocArenaMax}` as deploy/Dockerfile sets it" : "")}; a fresh proxy per protocol. " +
            $"Max throughput: closed loop with 32 requests in flight for 10 s after a 5 s warm-up (HTTP/1.1: `wrk -t1 -c32`; h2c and gRPC: " +
            $"`h2load -t1 -c4 -m8`). Open-loop load from the harness (requests due at a fixed rate whatever the answers do; HttpClient / Grpc.Net.Client, " +
            $"up to {OverloadClient.MaxConnections} connections, HTTP/2 ones opened whenever the streams of the others are in use; at most " +
            $"{options.ClientMaxPending:N0} requests unanswered, a request due beyond that is counted as *not sent*, as a client's own pending-request limit " +
            $"would): a quarter of the max for 5 s (baseline), then " +
            $"{options.OverloadFactor}× for {options.OverloadDuration.TotalSeconds:0} s, and once its last answer is in, a quarter again for 1 s (recovery) " +
            $"{(options.FreshRecoveryClient ? "on a fresh client (new connections)" : "on the overload's client, whose connections stay open as real clients' do")}, " +
            $"after a full GC of the harness itself (so a pause of the load generator does not release a burst of due requests at once). Latency *from send* is " +
            $"from handing the request to the client to the last byte, *from due* from when the open-loop schedule wanted it sent (client-side queueing " +
            $"included); *in the proxy* is the access log's `duration_ms` of the accepted requests (from the request reaching ProxyMesh's pipeline to its end). " +
            $"When the load generator and the proxy together cannot keep up with the offered rate on the shared cores, requests queue in the client and only " +
            $"the in-proxy figure describes the proxy. Besides accepted and shed, a request may be refused before the proxy processed it: *connection " +
            $"refused* when the overload manager closed the connection it was to go out on (SocketsHttpHandler sends up to 100 requests on a new HTTP/2 " +
            $"connection before the proxy's SETTINGS, so one closed connection can fail that many), *stream refused* when Kestrel reset its HTTP/2 stream on " +
            $"the HEADERS frame, before dispatching it (`REFUSED_STREAM`; `ENHANCE_YOUR_CALM` when the connection holds more than twice " +
            $"`MaxConcurrentStreams` streams the client has not finished), or failed by a graceful `GOAWAY` whose last processed stream was below it. " +
            $"Anything else counts as failed.");
        foreach (var (section, _) in sections)
        {
            md.AppendLine();
            md.Append(section);
        }

        return (md.ToString(), passed);
    }

    private static async Task<(string Markdown, bool Passed)> RunProtocolAsync(
        SoakOptions options, OverloadProtocol protocol, string publishDirectory, string work, Backends backends)
    {
        await using var proxy = await ProxyUnderTest.StartAsync(
            publishDirectory, work, backends, options.MallocArenaMax, $$""" "Overload": { {{OverloadSection(options, protocol)}} }, "Limits": { "MaxConcurrentStreams": {{options.MaxConcurrentStreams}} }, """, options.ProxyCpus);
        var baseAddress = new Uri($"http://127.0.0.1:{proxy.Port}");
        var idleRss = ProcessSample.Read(proxy.Pid, TimeSpan.Zero).RssBytes;
        using var stopSampling = new CancellationTokenSource();
        var peakRss = SamplePeakRssAsync(proxy.Pid, stopSampling.Token);

        Console.WriteLine($"overload {protocol}: measuring the max throughput (closed loop, 32 in flight, 5 s warm-up, 10 s)…");
        var max = await MaxThroughputAsync(protocol, baseAddress, work);
        var quarter = max / 4;
        OpenLoopResult before;
        using (var steady = new OverloadClient(protocol, baseAddress))
        {
            await OpenLoopGenerator.RunAsync(steady, "warm-up", quarter, TimeSpan.FromSeconds(3), options.ClientMaxPending);
            before = await OpenLoopGenerator.RunAsync(steady, Baseline, quarter, TimeSpan.FromSeconds(5), options.ClientMaxPending);
        }

        var (shedBefore, refusedBefore, _) = await OverloadCountsAsync(proxy.AdminPort);
        Console.WriteLine($"overload {protocol}: max {max:N0} req/s; offering {options.OverloadFactor}× = {max * options.OverloadFactor:N0} req/s for {options.OverloadDuration.TotalSeconds} s…");
        using var overloadClient = new OverloadClient(protocol, baseAddress);
        var during = await OpenLoopGenerator.RunAsync(overloadClient, Overload, max * options.OverloadFactor, options.OverloadDuration, options.ClientMaxPending);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        GC.WaitForPendingFinalizers();
        using var freshClient = options.FreshRecoveryClient ? new OverloadClient(protocol, baseAddress) : null;
        var after = await OpenLoopGenerator.RunAsync(freshClient ?? overloadClient, Recovery, quarter, TimeSpan.FromSeconds(1), options.ClientMaxPending);
        var (shedAfter, refusedAfter, heapAtEnd) = await OverloadCountsAsync(proxy.AdminPort);
        var shedCounted = shedAfter - shedBefore;
        var connectionsRefused = refusedAfter - refusedBefore;
        var requestsRefused = during.Refused + after.Refused;
        await stopSampling.CancelAsync();
        var peak = await peakRss;
        var inProxy = await ProxyDurationsAsync(proxy.LogPath);

        var refusal = protocol == OverloadProtocol.Grpc ? "UNAVAILABLE" : "503s";
        var checks = new List<(string What, string Seen, string Limit, bool Passed)>
        {
            ($"requests that failed (neither accepted, {refusal} nor refused before processing)", N(during.Failed + after.Failed), "0", during.Failed + after.Failed == 0),
            ($"{refusal} without `x-envoy-overloaded: true`", N(during.ShedWithoutHeader + after.ShedWithoutHeader), "0", during.ShedWithoutHeader + after.ShedWithoutHeader == 0),
            ($"{refusal} not counted in `proxymesh_overload_shed_total`", N(during.Shed + after.Shed - (long)shedCounted), "0", during.Shed + after.Shed == (long)shedCounted),
            ("requests whose connection was closed before an answer, at most 101 per connection the proxy counted refused (HTTP/2: the first request and the 100 streams a client may open before SETTINGS)",
                $"{N(requestsRefused)}; {N((long)connectionsRefused)} refused", $"≤ {N((long)connectionsRefused * 101)}", requestsRefused <= connectionsRefused * 101),
            ("accepted requests' P99 at overload, in the proxy (ms)", Ms(inProxy[Overload], 99), $"≤ {options.MaxAcceptedP99Milliseconds:N0}",
                inProxy[Overload].TotalCount > 0 && inProxy[Overload].GetValueAtPercentile(99) / 1000.0 <= options.MaxAcceptedP99Milliseconds),
            ("RSS peak (MB)", $"{peak / Megabyte:N0}", $"≤ {options.MaxPeakRssMegabytes:N0}", peak / Megabyte <= options.MaxPeakRssMegabytes),
            ("requests served in the second after the load drops", $"{N(after.Accepted)} of {N(after.Due)}", "all", after.Accepted == after.Due),
            ("P99 of that second, from due (ms)", Ms(after.AcceptedFromDue, 99), $"≤ {options.MaxAcceptedP99Milliseconds:N0}",
                after.AcceptedFromDue.TotalCount > 0 && after.AcceptedFromDue.GetValueAtPercentile(99) / 1000.0 <= options.MaxAcceptedP99Milliseconds),
        };
        var passed = checks.All(check => check.Passed);

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"## {Describe(protocol)}: {(passed ? "passed" : "FAILED")}");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"`ProxyMesh:Overload`: `{{ {OverloadSection(options, protocol)} }}`. Max throughput: **{max:N0} req/s**; RSS idle {idleRss / Megabyte:N0} MB, peak **{peak / Megabyte:N0} MB**; " +
            $"managed heap after the recovery second {heapAtEnd / Megabyte:N0} MB (`proxymesh_overload_heap_bytes`, live data once over `MaxHeapBytes`).");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| phase | offered req/s | answered req/s | sent | accepted | {refusal} overloaded | connection refused | stream refused (`REFUSED_STREAM`, `ENHANCE_YOUR_CALM`, past a `GOAWAY`) | not sent (client's limit) | refused share | accepted P50 / P99 in the proxy (ms) | accepted P50 / P99 from send (ms) | accepted P50 / P99 from due (ms) | {refusal} P50 / P99 from send (ms) | connection refused P50 / P99 from send (ms) | {refusal} due at (ms into the phase) | harness GC pause (ms) |");
        md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
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
            $"| {phase} | {r.OfferedRate:N0} | {r.Sent / r.Elapsed.TotalSeconds:N0} | {N(r.Sent)} | {N(r.Accepted)} | {N(r.Shed)} | {N(r.Refused)} | {N(r.StreamRefused)} | {N(r.ClientDropped)} | {r.RefusedShare:P1} | " +
            $"{Ms(inProxy[r.Phase], 50)} / {Ms(inProxy[r.Phase], 99)} | " +
            $"{Ms(r.AcceptedFromSend, 50)} / {Ms(r.AcceptedFromSend, 99)} | {Ms(r.AcceptedFromDue, 50)} / {Ms(r.AcceptedFromDue, 99)} | " +
            $"{Ms(r.ShedFromSend, 50)} / {Ms(r.ShedFromSend, 99)} | {Ms(r.RefusedFromSend, 50)} / {Ms(r.RefusedFromSend, 99)} | " +
            $"{(r.ShedDueFirst is { } first ? $"{first.TotalMilliseconds:N0}–{r.ShedDueLast!.Value.TotalMilliseconds:N0}" : "—")} | {r.HarnessGcPause.TotalMilliseconds:N0} |");
    }

    private static string Describe(OverloadProtocol protocol) => protocol switch
    {
        OverloadProtocol.Http1 => "HTTP/1.1: `GET /small` (2 bytes) to a Kestrel HTTP/1.1 upstream",
        OverloadProtocol.H2c => "h2c: `GET /h2/small` (2 bytes) over HTTP/2 with prior knowledge to a Kestrel h2c upstream",
        _ => "gRPC unary: `Echo/Unary` over h2c to a Grpc.AspNetCore service on a Kestrel h2c upstream",
    };

    /// <summary>The access log's <c>duration_ms</c> of every accepted request per phase (told apart by request id), in microseconds.</summary>
    private static async Task<Dictionary<string, LongHistogram>> ProxyDurationsAsync(string logPath)
    {
        var phases = new[] { Baseline, Overload, Recovery }.ToDictionary(OverloadClient.RequestIdOf, _ => new LongHistogram(TimeSpan.FromSeconds(120).Ticks / 10, 3));
        await using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith('{') || !line.Contains("\"request_id\":\"overload-", StringComparison.Ordinal))
            {
                continue;
            }

            using var entry = System.Text.Json.JsonDocument.Parse(line);
            var root = entry.RootElement;
            if (phases.TryGetValue(root.GetProperty("request_id").GetString()!, out var histogram) && root.GetProperty("response_code").GetInt32() == 200)
            {
                histogram.RecordValue(Math.Max(1, (long)(root.GetProperty("duration_ms").GetDouble() * 1000)));
            }
        }

        return phases.ToDictionary(pair => pair.Key["overload-".Length..], pair => pair.Value);
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

    /// <summary>Requests per second a closed-loop tool reached with 32 requests in flight, after a 5 s warm-up.</summary>
    private static async Task<double> MaxThroughputAsync(OverloadProtocol protocol, Uri baseAddress, string work)
    {
        var url = new Uri(baseAddress, OverloadClient.PathOf(protocol)).ToString();
        if (protocol == OverloadProtocol.Http1)
        {
            await ToolAsync("wrk", ["-t1", "-c32", "-d5s", url]);
            return Parse(WrkRequestsPerSecond(), await ToolAsync("wrk", ["-t1", "-c32", "-d10s", url]));
        }

        List<string> arguments = ["-t1", "-c4", "-m8", "--warm-up-time=5", "-D10"];
        if (protocol == OverloadProtocol.Grpc)
        {
            // One gRPC message: not compressed, 3 bytes long, EchoRequest { message = "x" }.
            var body = Path.Combine(work, "grpc-request.bin");
            await File.WriteAllBytesAsync(body, [0, 0, 0, 0, 3, 0x0a, 0x01, (byte)'x']);
            arguments.AddRange(["-d", body, "-H", "content-type: application/grpc", "-H", "te: trailers"]);
        }

        arguments.Add(url);
        return Parse(H2loadRequestsPerSecond(), await ToolAsync("h2load", arguments));

        static double Parse(Regex regex, string output) =>
            regex.Match(output) is { Success: true } match ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : throw new InvalidOperationException($"no rate in:\n{output}");
    }

    private static async Task<string> ToolAsync(string tool, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{tool} did not start (apt-get install wrk nghttp2-client)");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return await output + await error;
    }

    private static async Task<(double Shed, double ConnectionsRefused, double HeapBytes)> OverloadCountsAsync(int adminPort)
    {
        using var client = new HttpClient();
        var metrics = await client.GetStringAsync(new Uri($"http://127.0.0.1:{adminPort}/metrics"));
        return ((PrometheusText.Value(metrics, "proxymesh_overload_shed_total", "reason=\"max_active_requests\"") ?? 0)
                + (PrometheusText.Value(metrics, "proxymesh_overload_shed_total", "reason=\"heap\"") ?? 0),
            PrometheusText.Value(metrics, "proxymesh_overload_connections_refused_total") ?? 0,
            PrometheusText.Value(metrics, "proxymesh_overload_heap_bytes") ?? 0);
    }

    /// <summary>The proxy's <c>ProxyMesh:Overload</c> section (JSON members) as the options set it.</summary>
    private static string OverloadSection(SoakOptions options, OverloadProtocol protocol)
    {
        var (maxActive, maxConnections) = options.OverloadSizing(protocol);
        return $"\"MaxActiveRequests\": {maxActive}, \"MaxConnections\": {maxConnections}, \"MaxHeapBytes\": {options.MaxHeapMegabytes * 1024 * 1024}";
    }

    private static string Ms(HistogramBase histogram, double percentile) =>
        histogram.TotalCount == 0 ? "—" : (histogram.GetValueAtPercentile(percentile) / 1000.0).ToString("N1", CultureInfo.InvariantCulture);

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex WrkRequestsPerSecond();

    /// <summary>"finished in 10.00s, 13630.30 req/s, 1.08MB/s".</summary>
    [GeneratedRegex(@"finished in [0-9.]+m?s, ([0-9.]+) req/s")]
    private static partial Regex H2loadRequestsPerSecond();
}
