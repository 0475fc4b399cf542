using System.Globalization;
using System.Text;

namespace ProxyMesh.Bench.DiscoveryScale;

/// <summary>The results as a small Markdown document: the setup, one column per run, how the numbers were taken.</summary>
internal static class Report
{
    public static string Markdown(ScaleOptions options, IReadOnlyList<RunResult> runs)
    {
        var text = new StringBuilder();
        Line(text, "# Discovery scale benchmark");
        Line(text, "");
        Line(text, $"{options.Services * options.HostsPerService:N0} hosts over {options.Services:N0} services, {options.Proxies:N0} simulated proxies " +
            $"polling {options.ServicesPerProxy} services each every {options.RefreshSeconds:0.##} s + jitter [0, {options.RefreshSeconds:0.##} s]; " +
            $"offered load {options.Proxies * options.ServicesPerProxy * 60 / (1.5 * options.RefreshSeconds):N0} GETs per minute. " +
            "Time compressed (intervals and TTLs divided by a factor), every figure scaled back to real time. DynamoDB store on dynalite; " +
            $"{Environment.ProcessorCount} cores, .NET {Environment.Version}; {DateTime.UtcNow:yyyy-MM-dd}.");
        Line(text, "");
        Line(text, "| | " + string.Join(" | ", runs.Select(run => $"{run.Plan.Label} (CacheTtl {run.Plan.CacheTtlSeconds:0.##} s)")) + " |");
        Line(text, "| --- |" + string.Concat(runs.Select(_ => " ---: |")));
        Row(text, runs, "time compression, measured window", run => $"×{run.Plan.Compress:0.##}, {run.RealMinutes:0.#} min");
        Row(text, runs, "GETs per minute", run => $"{run.GetsPerMinute:N0}");
        Row(text, runs, "cache hits / misses", run => $"{run.Counters.CacheHits / Math.Max(1, run.Counters.Reads):P1} / {run.Counters.CacheMisses / Math.Max(1, run.Counters.Reads):P1}");
        Row(text, runs, "store reads (DynamoDB Query) per minute", run => $"{run.StoreReadsPerMinute:N0}");
        Row(text, runs, "read units per store read", run => $"{run.UnitsPerRead:0.##}");
        Row(text, runs, "**DynamoDB read units per minute**", run => $"**{run.ReadUnitsPerMinute:N0}** ({run.ReadUnitsPerMinute / 60:N1} RCU/s)");
        Row(text, runs, "GET latency p50 / p99 / max", run => $"{run.P50Millis:0.0} / **{run.P99Millis:0.0}** / {run.MaxMillis:0} ms");
        Row(text, runs, "poll waited for a slot, p99", run => $"{run.SlotWaitP99Millis:0.0} ms");
        Row(text, runs, "failed polls, store read errors", run => $"{run.Errors}, {run.Counters.StoreReadErrors:0}");
        Row(text, runs, "propagation, check-in at the polled instance", run => Propagation(run.Probes.Where(p => !p.ViaOtherInstance)));
        Row(text, runs, "**propagation, check-in at another instance**", run => Propagation(run.Probes.Where(p => p.ViaOtherInstance)));
        Row(text, runs, "registering the hosts (wall time)", run => $"{run.Registration.TotalSeconds:0.0} s");
        Line(text, "");
        Line(text, "How the numbers are taken:");
        Line(text, "");
        Line(text, "- Rates are deltas of the service's own counters (`discovery_reads_total`, `discovery_cache_hits_total`, " +
            "`discovery_cache_misses_total`, `discovery_store_requests_total{operation=\"read\"}`) over the measured window, " +
            "after a warm-up of one full poll period.");
        Line(text, $"- Read units: each service's Query repeated with `ReturnConsumedCapacity=TOTAL` (eventually consistent, as the store reads), " +
            $"which dynalite computes as DynamoDB does: item sizes summed, rounded up to 4 KB, 0.5 RCU per 4 KB. " +
            $"An item is ≈{runs.Select(run => run.ItemBytes).DefaultIfEmpty().Average():0} bytes (attribute names + values), " +
            $"so a service of {options.HostsPerService} hosts is one Query of ≈{runs.Select(run => run.ItemBytes).DefaultIfEmpty().Average() * options.HostsPerService / 1024:0.0} KB.");
        Line(text, $"- GET latency: from sending the request to the last byte of the answer, as the pollers see it, under the compressed load " +
            $"(the real request rate times the compression, all on one machine with dynalite), at most {options.MaxInFlight} polls in flight; " +
            "a poll waiting for a slot is counted apart. Without the cache the run is compressed less: every GET is a Query there, and " +
            "dynalite (one node process) saturates near 800 Query/s on this machine, far below what ×10 would ask.");
        Line(text, "- Propagation: a new host checked in mid-window; the time from its check-in's answer until the last proxy polling that service " +
            "has it in an answer, scaled back to real time; median and worst of the probes (each service is polled by about " +
            $"{options.Proxies * options.ServicesPerProxy / (double)options.Services:0} proxies). \"Another instance\": checked in through a second " +
            "discovery instance on the same table, as behind a load balancer; the polled instance sees it when its view expires.");
        return text.ToString();
    }

    private static string Propagation(IEnumerable<ProbeResult> probes)
    {
        var list = probes.ToList();
        var seen = list.Where(p => p.RealTime is not null).Select(p => p.RealTime!.Value.TotalSeconds).Order().ToList();
        if (list.Count == 0)
        {
            return "—";
        }

        var median = seen.Count == 0 ? double.NaN : seen[seen.Count / 2];
        var missed = list.Count - seen.Count;
        return $"{median:0} s median, {(seen.Count == 0 ? double.NaN : seen[^1]):0} s worst ({list.Count} hosts" + (missed > 0 ? $", {missed} not seen by all" : "") + ")";
    }

    private static void Row(StringBuilder text, IReadOnlyList<RunResult> runs, string name, Func<RunResult, string> cell) =>
        Line(text, $"| {name} | " + string.Join(" | ", runs.Select(cell)) + " |");

    private static void Line(StringBuilder text, string line) => text.Append(CultureInfo.InvariantCulture, $"{line}\n");
}
