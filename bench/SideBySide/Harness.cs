using System.Diagnostics;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>Every measurement of one run: per target and metric, one value per round.</summary>
internal sealed class Results
{
    private readonly Dictionary<(string Target, string Metric), List<double>> values = [];

    public Dictionary<string, long> PeakRss { get; } = [];

    /// <summary>Non-2xx answers, socket errors and failed streams, per target.</summary>
    public Dictionary<string, long> Errors { get; } = [];

    public void AddErrors(string target, long errors) => Errors[target] = Errors.GetValueOrDefault(target) + errors;

    public void Add(string target, string metric, double value)
    {
        if (!values.TryGetValue((target, metric), out var list))
        {
            values[(target, metric)] = list = [];
        }

        list.Add(value);
    }

    public double? Median(string target, string metric)
    {
        if (!values.TryGetValue((target, metric), out var list) || list.Count == 0)
        {
            return null;
        }

        var sorted = list.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}

/// <summary>Starts the backends and targets, then runs interleaved rounds of every scenario.</summary>
internal sealed class Harness : IAsyncDisposable
{
    private const string Small = "/small";
    private readonly HarnessOptions options;
    private readonly BenchEnvironment env;
    private readonly ChildProcess grpcBackend;
    private readonly NginxBackend backend;
    private readonly string grpcBody;
    private readonly Results results = new();
    private readonly CancellationTokenSource sampling = new();
    private Task? sampler;

    private Harness(HarnessOptions options, BenchEnvironment env, ChildProcess grpcBackend, NginxBackend backend, List<Target> targets)
    {
        this.options = options;
        this.env = env;
        this.grpcBackend = grpcBackend;
        this.backend = backend;
        Targets = targets;
        grpcBody = Path.Combine(env.WorkDirectory, "grpc-request.bin");
        File.WriteAllBytes(grpcBody, GrpcBackend.Frame);
    }

    public IReadOnlyList<Target> Targets { get; }

    public static async Task<Harness> StartAsync(HarnessOptions options)
    {
        RequireTools();
        var work = Directory.CreateTempSubdirectory("proxymesh-bench-").FullName;
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the harness reads /proc and starts Debian's nginx and haproxy: Linux only");
        }

        File.SetUnixFileMode(work, (UnixFileMode)0b111_101_101); // nginx workers read the 64 KiB file
        var env = new BenchEnvironment(work, ChildProcess.FreePort(), ChildProcess.FreePort(), options.RepositoryRoot);
        Console.WriteLine($"work folder {work}; publishing ProxyMesh and plain YARP (Release)…");
        var proxyMesh = await PublishAsync(options.RepositoryRoot, "Proxy/Proxy.csproj", Path.Combine(work, "proxymesh"));
        var yarp = await PublishAsync(options.RepositoryRoot, "bench/PlainYarp/PlainYarp.csproj", Path.Combine(work, "yarp"));

        var backend = new NginxBackend(env);
        var grpc = new GrpcBackendProcess(env).Start();
        try
        {
            await grpc.WaitForPortAsync(env.GrpcBackendPort, TimeSpan.FromSeconds(60));
            await backend.StartAsync();
        }
        catch
        {
            await backend.DisposeAsync();
            await grpc.DisposeAsync();
            throw;
        }

        List<Target> all =
        [
            backend,
            new NginxProxy(env),
            new Haproxy(env),
            new PlainYarp(env, Path.Combine(yarp, "ProxyMesh.Bench.PlainYarp.dll")),
            new ProxyMesh(env, proxyMesh, minimal: false),
            new ProxyMesh(env, proxyMesh, minimal: true),
        ];
        var targets = all.Where(t => options.Targets is null || options.Targets.Contains(t.Name)).ToList();
        var harness = new Harness(options, env, grpc, backend, targets);
        try
        {
            foreach (var target in targets.Where(t => t != backend))
            {
                await target.StartAsync();
            }

            foreach (var target in targets)
            {
                await target.MeasureIdleAsync();
            }
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }

        return harness;
    }

    public async Task<Results> RunAsync()
    {
        sampler = SamplePeakRssAsync(sampling.Token);
        foreach (var target in Targets)
        {
            await WarmUpAsync(target);
        }

        for (var round = 1; round <= options.Rounds; round++)
        {
            // Interleaved: each round measures every target once per scenario, starting with a different target.
            var order = Targets.Skip((round - 1) % Targets.Count).Concat(Targets.Take((round - 1) % Targets.Count)).ToList();
            foreach (var scenario in HarnessOptions.AllScenarios.Where(options.Scenarios.Contains))
            {
                foreach (var target in order)
                {
                    Console.Write($"round {round}/{options.Rounds} {scenario,-6} {target.Name,-18}");
                    var summary = await MeasureAsync(scenario, target);
                    Console.WriteLine(summary);
                }
            }
        }

        await sampling.CancelAsync();
        await sampler;
        return results;
    }

    private async Task<string> MeasureAsync(string scenario, Target target)
    {
        var host = "http://127.0.0.1:";
        switch (scenario)
        {
            case "h1":
            {
                var cpuBefore = ProcessStats.CpuSeconds(target.Pids);
                var run = await LoadTools.WrkAsync(host + target.Http1Port + Small, options.Duration);
                var cpu = ProcessStats.CpuSeconds(target.Pids) - cpuBefore;
                Record(target, "h1", run);
                results.Add(target.Name, "cpu", cpu / run.Requests * 100_000);
                return $"{run.RequestsPerSecond,10:N0} req/s  {cpu / run.Requests * 100_000:N2} CPU s/100k";
            }

            case "fixed":
            {
                var allocation = target.IsDotNet ? AllocationSampler.Start(target.Process!.Pid) : null;
                await using var disposeAllocation = allocation;
                var latency = await OpenLoop.RunAsync(new Uri(host + target.Http1Port + Small), options.FixedRate, options.Duration);
                results.Add(target.Name, "p50", latency.P50);
                results.Add(target.Name, "p99", latency.P99);
                results.Add(target.Name, "p999", latency.P999);
                results.AddErrors(target.Name, latency.Errors);
                var perRequest = "";
                if (allocation is not null)
                {
                    // The counter reports once a second: wait for the report covering the end of the run.
                    await Task.Delay(TimeSpan.FromSeconds(1.5));
                    var bytes = await allocation.StopAsync() / latency.Requests;
                    results.Add(target.Name, "alloc", bytes);
                    perRequest = $"  {bytes:N0} B/req";
                }

                return $"  P50 {latency.P50 / 1000:N2} ms  P99 {latency.P99 / 1000:N2} ms  P99.9 {latency.P999 / 1000:N2} ms{perRequest}";
            }

            case "h2c" when target != backend:
            {
                var run = await LoadTools.H2loadAsync(host + target.H2cPort + Small, options.Duration);
                Record(target, "h2c", run);
                return $"{run.RequestsPerSecond,10:N0} req/s";
            }

            case "grpc":
            {
                var run = await LoadTools.H2loadAsync(host + target.H2cPort + "/bench.Bench/Unary", options.Duration, grpcBody);
                Record(target, "grpc", run);
                return $"{run.RequestsPerSecond,10:N0} calls/s";
            }

            case "64k":
            {
                var run = await LoadTools.WrkAsync(host + target.Http1Port + "/64k", options.Duration);
                Record(target, "64k", run);
                return $"{run.RequestsPerSecond,10:N0} req/s";
            }

            case "start":
            {
                await target.RestartAsync();
                var run = await LoadTools.WrkAsync(host + target.Http1Port + Small, TimeSpan.FromSeconds(5));
                Record(target, "start", run);
                await WarmUpAsync(target);
                return $"{run.RequestsPerSecond,10:N0} req/s in the first 5 s";
            }

            default:
                return "  —";
        }
    }

    private void Record(Target target, string metric, Throughput run)
    {
        results.Add(target.Name, metric, run.RequestsPerSecond);
        results.AddErrors(target.Name, run.Errors);
    }

    /// <summary>Every target gets the same warm-up on every protocol (JIT tiering makes a cold .NET process slow).</summary>
    private async Task WarmUpAsync(Target target)
    {
        if (options.WarmUp <= TimeSpan.Zero)
        {
            return;
        }

        await LoadTools.WrkAsync($"http://127.0.0.1:{target.Http1Port}{Small}", options.WarmUp);
        if (target != backend)
        {
            await LoadTools.H2loadAsync($"http://127.0.0.1:{target.H2cPort}{Small}", options.WarmUp);
        }

        await LoadTools.H2loadAsync($"http://127.0.0.1:{target.H2cPort}/bench.Bench/Unary", options.WarmUp, grpcBody);
    }

    private async Task SamplePeakRssAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                foreach (var target in Targets)
                {
                    try
                    {
                        var rss = ProcessStats.RssBytes(target.Pids);
                        results.PeakRss[target.Name] = Math.Max(rss, results.PeakRss.GetValueOrDefault(target.Name));
                    }
                    catch (IOException)
                    {
                        // Restarting: no process to read this tick.
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task<string> PublishAsync(string root, string project, string output)
    {
        var info = new ProcessStartInfo("dotnet", ["publish", Path.Combine(root, project), "-c", "Release", "-o", output, "--nologo", "-v", "quiet"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"dotnet publish {project} failed:\n{await stdout}{await stderr}");
    }

    private static void RequireTools()
    {
        string[] tools = ["nginx", "haproxy", "wrk", "h2load"];
        var missing = tools.Where(tool => !Environment.GetEnvironmentVariable("PATH")!.Split(':').Concat(["/usr/sbin", "/sbin"])
            .Any(dir => File.Exists(Path.Combine(dir, tool)))).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"missing {string.Join(", ", missing)}: apt-get install nginx haproxy wrk nghttp2-client (the harness starts them itself; stop the system services)");
        }
    }

    public async ValueTask DisposeAsync()
    {
        sampling.Dispose();
        foreach (var target in Targets)
        {
            await target.DisposeAsync();
        }

        await backend.DisposeAsync();
        await grpcBackend.DisposeAsync();
        try
        {
            Directory.Delete(env.WorkDirectory, recursive: true);
        }
        catch (IOException)
        {
            // nginx may still be writing its logs; the folder is in /tmp.
        }
    }
}
