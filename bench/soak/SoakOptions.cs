using System.Globalization;

namespace ProxyMesh.Bench.Soak;

/// <summary>Command line of the harness; every threshold that fails a run is an option with a documented default.</summary>
internal sealed record SoakOptions(
    string Mode,
    TimeSpan Duration,
    TimeSpan WarmUp,
    TimeSpan SampleInterval,
    TimeSpan ReloadInterval,
    int HttpRate,
    int H2cRate,
    int GrpcStreamRate,
    int GrpcMessagesPerStream,
    int WebSocketConnections,
    int WebSocketMessageRate,
    double MaxRssSlopeMbPerMinute,
    double MaxHeapSlopeMbPerMinute,
    int MaxThreadGrowth,
    int MaxHandleGrowth,
    int MaxConnectionGrowth,
    TimeSpan OverloadDuration,
    int? MaxActiveRequests,
    int? MaxProxyConnections,
    int MaxConcurrentStreams,
    long MaxHeapMegabytes,
    double OverloadFactor,
    int ClientMaxPending,
    double MaxAcceptedP99Milliseconds,
    double MaxPeakRssMegabytes,
    IReadOnlyList<OverloadProtocol> Protocols,
    bool FreshRecoveryClient,
    string? ProxyCpus,
    string? ToolsDirectory,
    string? PublishedProxy,
    int MallocArenaMax,
    bool HeapDumps,
    string RepositoryRoot,
    string? OutPath)
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench/soak -- [options]
          --mode soak|overload        soak (default): mixed load for --duration; overload: 2x the measured max throughput
          --duration T                soak length, e.g. 30m, 2m, 90s (default 30m)
          --warmup T                  load before the first sample that counts (default 30s)
          --sample-interval T         how often the proxy's RSS, threads, handles and connections are read (default 5s)
          --reload-interval T         how often the config file is rewritten (default 20s)
          --http-rate N               HTTP/1.1 requests/s (default 100)
          --h2c-rate N                h2c requests/s (default 100)
          --grpc-rate N               gRPC server-streaming calls/s (default 5)
          --grpc-messages N           messages per gRPC stream (default 20)
          --ws-connections N          WebSocket connections open at once (default 4)
          --ws-rate N                 WebSocket messages/s over all connections (default 40)
          --max-rss-slope MB          fail above this RSS slope, MB/min over the second half (default 1)
          --max-heap-slope MB         fail above this slope of the GC heap after the last collection, MB/min over the
                                      second half (default 0.5; judged when dotnet-counters is found)
          --tools DIR                 where dotnet-counters and dotnet-gcdump (NuGet tools) are looked for before
                                      ~/.dotnet/tools and PATH; without dotnet-counters the GC heap is not sampled
          --gcdump                    soak mode: a dotnet-gcdump at the end of the warm-up and near the end, diffed by type
          --max-thread-growth N       fail when threads grow by more (default 10)
          --max-handle-growth N       fail when open handles grow by more (default 50)
          --max-connection-growth N   fail when TCP connections grow by more (default 50)
          --overload-duration T       overload mode: how long 2x is offered (default 15s)
          --max-active N              overload mode: ProxyMesh:Overload:MaxActiveRequests (default: HTTP/1.1 128,
                                      h2c and gRPC 512)
          --max-proxy-connections N   overload mode: ProxyMesh:Overload:MaxConnections (default: HTTP/1.1 512, h2c and
                                      gRPC 32; 0 turns it off)
          --max-streams N             overload mode: ProxyMesh:Limits:MaxConcurrentStreams, HTTP/2 streams per client
                                      connection (default 100, the proxy's own default)
          --max-heap MB               overload mode: ProxyMesh:Overload:MaxHeapBytes in MB (default 0: off)
          --client-pending N          overload mode: requests the load generator keeps unanswered at most; one due beyond
                                      is counted as not sent, as a client's own pending-request limit (default 10000)
          --factor F                  overload mode: offered load as a multiple of the max throughput (default 2)
          --max-accepted-p99 MS       overload mode: fail when accepted requests' P99 exceeds it (default 1000)
          --max-peak-rss MB           overload mode: fail when the proxy's RSS peaks above it (default 400)
          --protocols LIST            overload mode: which of http1,h2c,grpc to overload, each on a fresh proxy (default all)
          --fresh-recovery-client     overload mode: the recovery second on a new client (new connections), not the
                                      overload's own
          --published DIR             run this already published ProxyMesh (dotnet publish Proxy -c Release -o DIR) instead
                                      of publishing it again
          --malloc-arena-max N        MALLOC_ARENA_MAX for the proxy, as deploy/Dockerfile sets it (default 2; 0 leaves
                                      glibc's default of 8 arenas per core)
          --proxy-cpus LIST           pin the proxy to these CPUs (taskset -c), as a sidecar with a CPU limit (default: all)
          --out PATH                  where the Markdown result goes (default bench/results/soak.md or
                                      bench/results/overload.md; 'none' to print only)
        """;

    public bool IsOverload => Mode == "overload";

    /// <summary>
    /// The overload limits a sidecar serving this traffic would be given. HTTP/1.1 carries one request per connection,
    /// so MaxConnections above MaxActiveRequests leaves the request limit to shed with 503s. HTTP/2 multiplexes:
    /// MaxConnections × MaxConcurrentStreams is what the proxy may hold queued before the request limit sees it, and
    /// accepted requests wait behind it, so it is kept near a tenth of a second of max throughput; MaxActiveRequests
    /// is larger, since at h2c's rate a 20 ms stall already puts a few hundred requests in flight.
    /// </summary>
    public (int MaxActiveRequests, int MaxConnections) OverloadSizing(OverloadProtocol protocol) =>
        protocol == OverloadProtocol.Http1
            ? (MaxActiveRequests ?? 128, MaxProxyConnections ?? 512)
            : (MaxActiveRequests ?? 512, MaxProxyConnections ?? 32);

    public static SoakOptions Parse(string[] args)
    {
        var mode = "soak";
        var duration = TimeSpan.FromMinutes(30);
        var warmUp = TimeSpan.FromSeconds(30);
        var sample = TimeSpan.FromSeconds(5);
        var reload = TimeSpan.FromSeconds(20);
        int httpRate = 100, h2cRate = 100, grpcRate = 5, grpcMessages = 20, wsConnections = 4, wsRate = 40;
        var maxSlope = 1.0;
        var maxHeapSlope = 0.5;
        string? tools = null;
        string? published = null;
        var mallocArenaMax = 2;
        var heapDumps = false;
        int maxThreads = 10, maxHandles = 50, maxConnections = 50;
        var overloadDuration = TimeSpan.FromSeconds(15);
        int? maxActive = null;
        int? maxProxyConnections = null;
        var maxHeap = 0;
        var maxStreams = 100;
        var factor = 2.0;
        var clientPending = 10_000;
        var maxP99 = 1000.0;
        var maxPeakRss = 400.0;
        IReadOnlyList<OverloadProtocol> protocols = [OverloadProtocol.Http1, OverloadProtocol.H2c, OverloadProtocol.Grpc];
        var freshRecoveryClient = false;
        string? cpus = null;
        var root = FindRepositoryRoot();
        string? outPath = "";
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--mode": mode = Value(); break;
                case "--duration": duration = Time(Value(), "--duration"); break;
                case "--warmup": warmUp = Time(Value(), "--warmup"); break;
                case "--sample-interval": sample = Time(Value(), "--sample-interval"); break;
                case "--reload-interval": reload = Time(Value(), "--reload-interval"); break;
                case "--http-rate": httpRate = Count(Value(), "--http-rate"); break;
                case "--h2c-rate": h2cRate = Count(Value(), "--h2c-rate"); break;
                case "--grpc-rate": grpcRate = Count(Value(), "--grpc-rate"); break;
                case "--grpc-messages": grpcMessages = Count(Value(), "--grpc-messages"); break;
                case "--ws-connections": wsConnections = Count(Value(), "--ws-connections"); break;
                case "--ws-rate": wsRate = Count(Value(), "--ws-rate"); break;
                case "--max-rss-slope": maxSlope = Number(Value(), "--max-rss-slope"); break;
                case "--max-heap-slope": maxHeapSlope = Number(Value(), "--max-heap-slope"); break;
                case "--tools": tools = Path.GetFullPath(Value()); break;
                case "--published": published = Path.GetFullPath(Value()); break;
                case "--malloc-arena-max": mallocArenaMax = Count(Value(), "--malloc-arena-max"); break;
                case "--gcdump": heapDumps = true; break;
                case "--max-thread-growth": maxThreads = Count(Value(), "--max-thread-growth"); break;
                case "--max-handle-growth": maxHandles = Count(Value(), "--max-handle-growth"); break;
                case "--max-connection-growth": maxConnections = Count(Value(), "--max-connection-growth"); break;
                case "--overload-duration": overloadDuration = Time(Value(), "--overload-duration"); break;
                case "--max-active": maxActive = Count(Value(), "--max-active"); break;
                case "--max-proxy-connections": maxProxyConnections = Count(Value(), "--max-proxy-connections"); break;
                case "--max-streams": maxStreams = Count(Value(), "--max-streams"); break;
                case "--max-heap": maxHeap = Count(Value(), "--max-heap"); break;
                case "--client-pending": clientPending = Count(Value(), "--client-pending"); break;
                case "--factor": factor = Number(Value(), "--factor"); break;
                case "--max-accepted-p99": maxP99 = Number(Value(), "--max-accepted-p99"); break;
                case "--max-peak-rss": maxPeakRss = Number(Value(), "--max-peak-rss"); break;
                case "--protocols": protocols = ParseProtocols(Value()); break;
                case "--fresh-recovery-client": freshRecoveryClient = true; break;
                case "--proxy-cpus": cpus = Value(); break;
                case "--out": var value = Value(); outPath = value == "none" ? null : Path.GetFullPath(value); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        if (mode is not ("soak" or "overload"))
        {
            throw new ArgumentException("--mode takes soak or overload");
        }

        if (outPath == "")
        {
            outPath = Path.Combine(root, "bench", "results", mode == "overload" ? "overload.md" : "soak.md");
        }

        if (mode == "soak" && warmUp >= duration)
        {
            throw new ArgumentException("--warmup must be shorter than --duration");
        }

        return new SoakOptions(
            mode, duration, warmUp, sample, reload, httpRate, h2cRate, grpcRate, grpcMessages, wsConnections, wsRate,
            maxSlope, maxHeapSlope, maxThreads, maxHandles, maxConnections, overloadDuration, maxActive, maxProxyConnections, maxStreams, maxHeap, factor, clientPending, maxP99, maxPeakRss, protocols, freshRecoveryClient,
            cpus, tools, published, mallocArenaMax, heapDumps, root, outPath);
    }

    /// <summary>30m, 2m, 90s, 500ms or a number of seconds.</summary>
    private static TimeSpan Time(string value, string name)
    {
        var (number, unit) = value.EndsWith("ms", StringComparison.Ordinal) ? (value[..^2], 0.001)
            : value.EndsWith('m') ? (value[..^1], 60.0)
            : value.EndsWith('h') ? (value[..^1], 3600.0)
            : value.EndsWith('s') ? (value[..^1], 1.0)
            : (value, 1.0);
        return double.TryParse(number, CultureInfo.InvariantCulture, out var n) && n > 0
            ? TimeSpan.FromSeconds(n * unit)
            : throw new ArgumentException($"{name} takes a duration such as 30m, 90s or 500ms");
    }

    private static OverloadProtocol[] ParseProtocols(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(name => name switch
        {
            "http1" => OverloadProtocol.Http1,
            "h2c" => OverloadProtocol.H2c,
            "grpc" => OverloadProtocol.Grpc,
            _ => throw new ArgumentException("--protocols takes a list of http1, h2c, grpc"),
        }).Distinct().ToArray();

    private static int Count(string value, string name) =>
        int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n >= 0 ? n : throw new ArgumentException($"{name} takes a whole number");

    private static double Number(string value, string name) =>
        double.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{name} takes a positive number");

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ProxyMesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new ArgumentException("run from inside the ProxyMesh repository (ProxyMesh.sln not found)");
    }
}
