using System.Diagnostics;
using HdrHistogram;

namespace ProxyMesh.Bench.DiscoveryScale;

/// <summary>
/// One measured run: two discovery instances on one fresh table (the proxies poll the first; the second stands for
/// the other instances behind a load balancer), the fleet registered, the proxies polling, then a measured window in
/// which store reads and GET latencies are counted and new hosts are registered to time their propagation.
/// </summary>
internal static class ScaleRun
{
    public static async Task<RunResult> RunAsync(RunPlan plan, ScaleOptions options, Fleet fleet, DynaliteServer dynamo, HttpClient client)
    {
        var label = plan.Label;
        var table = "scale-" + label.Replace(' ', '-');
        await using var polled = await DiscoveryInstance.StartAsync(dynamo.ServiceUrl, table, plan.Wall(plan.CacheTtlSeconds));
        await using var other = await DiscoveryInstance.StartAsync(dynamo.ServiceUrl, table, plan.Wall(plan.CacheTtlSeconds));

        var clock = Stopwatch.StartNew();
        await fleet.RegisterAsync(client, polled.Uri, options.MaxInFlight);
        var registration = clock.Elapsed;
        Log(label, $"registered {fleet.Services.Length * fleet.HostsPerService} hosts in {registration.TotalSeconds:0.0} s");
        var (unitsPerRead, itemBytes) = await ReadUnits.MeasureAsync(dynamo.ServiceUrl, table, fleet.Services);

        using var proxies = new PollingProxies(fleet, client, polled.Uri, plan.Wall(options.RefreshSeconds), options.MaxInFlight);
        using var stop = new CancellationTokenSource();
        var polling = proxies.RunAsync(stop.Token);

        // Warm-up: one full period, so that every poller has polled and the views are filled.
        await Task.Delay(plan.Wall(2 * options.RefreshSeconds));
        var before = await DiscoveryInstance.ScrapeAsync(client, polled.Uri);
        proxies.Measuring = true;
        var window = plan.Wall(plan.Minutes * 60);
        Log(label, $"measuring {plan.Minutes} min (compressed to {window.TotalSeconds:0} s)");
        var started = Stopwatch.GetTimestamp();
        var probes = ProbeAsync(plan, options, fleet, proxies, polled, other, client, window);
        await Task.Delay(window);
        proxies.Measuring = false;
        var measured = Stopwatch.GetElapsedTime(started);
        var counters = await DiscoveryInstance.ScrapeAsync(client, polled.Uri) - before;
        var propagation = await probes;

        await stop.CancelAsync();
        await polling;

        // Real minutes in the window: the window's wall time, stretched back by the compression factor.
        var realMinutes = measured.TotalMinutes * plan.Compress;
        return new RunResult(
            plan,
            registration,
            counters,
            realMinutes,
            unitsPerRead,
            itemBytes,
            Millis(proxies.Latency.GetValueAtPercentile(50)),
            Millis(proxies.Latency.GetValueAtPercentile(99)),
            Millis(proxies.Latency.GetMaxValue()),
            Millis(proxies.Wait.GetValueAtPercentile(99)),
            proxies.Errors,
            propagation);
    }

    /// <summary>
    /// Registers <see cref="ScaleOptions.Probes"/> new hosts spread over the window, alternately through the polled
    /// instance and through the other one, and times until every proxy polling the service has seen each.
    /// </summary>
    private static async Task<IReadOnlyList<ProbeResult>> ProbeAsync(
        RunPlan plan, ScaleOptions options, Fleet fleet, PollingProxies proxies, DiscoveryInstance polled, DiscoveryInstance other, HttpClient client, TimeSpan window)
    {
        var random = new Random(options.Seed + 1);
        var services = Enumerable.Range(0, fleet.Services.Length).Where(s => proxies.ProxiesPolling(s).Count > 0).OrderBy(_ => random.Next()).ToArray();
        var giveUp = plan.Wall(4 * (plan.CacheTtlSeconds + (2 * options.RefreshSeconds)));
        var running = new List<Task<ProbeResult>>();
        for (var k = 0; k < Math.Min(options.Probes, services.Length); k++)
        {
            await Task.Delay(k == 0 ? window / (options.Probes * 2) : window / options.Probes);
            var probe = new PropagationProbe(services[k], $"10.250.{k / 250}.{(k % 250) + 1}", viaOtherInstance: k % 2 == 1, proxies.ProxiesPolling(services[k]));
            proxies.Watch(probe);
            running.Add(TimeAsync(probe, probe.ViaOtherInstance ? other.Uri : polled.Uri));
        }

        return await Task.WhenAll(running);

        async Task<ProbeResult> TimeAsync(PropagationProbe probe, Uri instance)
        {
            using var content = Fleet.CheckIn(probe.Ip, 1_000_000 + probe.Service);
            using var response = await client.PostAsync(new Uri(instance, $"/v1/registration/{fleet.Services[probe.Service]}"), content);
            response.EnsureSuccessStatusCode();
            probe.Registered(Stopwatch.GetTimestamp());
            var finished = await Task.WhenAny(probe.AllSeen, Task.Delay(giveUp));
            TimeSpan? real = finished == probe.AllSeen
                ? TimeSpan.FromTicks(Math.Max(0, (long)(Stopwatch.GetElapsedTime(probe.RegisteredAt, await probe.AllSeen).Ticks * plan.Compress)))
                : null;
            return new ProbeResult(probe.ViaOtherInstance, probe.Proxies, real);
        }
    }

    private static double Millis(long stopwatchTicks) => stopwatchTicks * 1000.0 / Stopwatch.Frequency;

    private static void Log(string label, string message) => Console.WriteLine($"[{label}] {message}");
}

/// <summary>A propagation probe: null <see cref="RealTime"/> when some proxy had not seen the host when the probe gave up.</summary>
internal sealed record ProbeResult(bool ViaOtherInstance, int Proxies, TimeSpan? RealTime);

internal sealed record RunResult(
    RunPlan Plan,
    TimeSpan Registration,
    DiscoveryInstance.Counters Counters,
    double RealMinutes,
    double UnitsPerRead,
    double ItemBytes,
    double P50Millis,
    double P99Millis,
    double MaxMillis,
    double SlotWaitP99Millis,
    long Errors,
    IReadOnlyList<ProbeResult> Probes)
{
    public double GetsPerMinute => Counters.Reads / RealMinutes;

    public double StoreReadsPerMinute => Counters.StoreReads / RealMinutes;

    public double ReadUnitsPerMinute => StoreReadsPerMinute * UnitsPerRead;
}
