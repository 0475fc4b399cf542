using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Grpc.Net.Client;
using ProxyMesh.Proxy.Tests.Grpc;

namespace ProxyMesh.Bench.Soak;

/// <summary>What a soak run saw: operations per kind, resource samples, and how long reloads took to apply.</summary>
internal sealed record SoakResult(
    IReadOnlyList<LoadKind> Kinds,
    IReadOnlyList<ProcessSample> Samples,
    IReadOnlyList<TimeSpan> ReloadApplyTimes,
    ProcessSample? AfterLoad,
    bool ProxyExited,
    bool RuntimeCountersRead,
    IReadOnlyList<HeapDump> HeapDumps);

/// <summary>
/// Mixed traffic through the proxy at a moderate, paced rate: HTTP/1.1 (GET and a 1 KiB echo POST), h2c (to an h2c and
/// an HTTP/1.1 upstream), gRPC server streaming, WebSocket messages (connections closed and reopened every 100
/// messages), and a config reload every interval that flips a route and a cluster, each reload checked by polling
/// until the proxy answers as the new config. The proxy's /proc is sampled throughout.
/// </summary>
internal sealed class SoakRun(SoakOptions options, ProxyUnderTest proxy)
{
    private static readonly byte[] EchoBody = Encoding.ASCII.GetBytes(new string('x', 1024));
    private const int MessagesPerWebSocket = 100;

    private readonly Uri baseAddress = new($"http://127.0.0.1:{proxy.Port}");
    private readonly LoadKind http1 = new("HTTP/1.1", "requests");
    private readonly LoadKind h2c = new("h2c", "requests");
    private readonly LoadKind grpc = new("gRPC server streaming", "calls");
    private readonly LoadKind grpcMessages = new("gRPC streamed messages", "messages");
    private readonly LoadKind webSocket = new("WebSocket", "messages");
    private readonly LoadKind webSocketConnections = new("WebSocket connections", "connections");
    private readonly LoadKind reloads = new("config reloads", "reloads applied");
    private readonly List<TimeSpan> reloadApplyTimes = [];
    private readonly List<ProcessSample> samples = [];
    private readonly List<HeapDump> heapDumps = [];
    private static readonly HttpClient MetricsClient = new() { Timeout = TimeSpan.FromSeconds(10) };
    private RuntimeCounters? runtimeCounters;
    private long http1Count;
    private long h2cCount;

    public async Task<SoakResult> RunAsync()
    {
        using var http1Client = Client(HttpVersion.Version11);
        using var h2cClient = Client(HttpVersion.Version20);
        using var grpcChannel = GrpcChannel.ForAddress(baseAddress, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, UseProxy = false },
        });
        var echo = new Echo.EchoClient(grpcChannel);
        using var stop = new CancellationTokenSource(options.Duration);
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"soak: {options.Duration} of mixed load through 127.0.0.1:{proxy.Port} (proxy pid {proxy.Pid})");

        if (RuntimeCounters.FindTool("dotnet-counters", options.ToolsDirectory) is { } counters)
        {
            runtimeCounters = RuntimeCounters.Start(counters, proxy.Pid, options.SampleInterval, proxy.WorkDirectory);
        }
        else
        {
            Console.WriteLine("soak: dotnet-counters not found (dotnet tool install -g dotnet-counters): the GC heap is not sampled");
        }

        var sampling = SampleAsync(clock, stop.Token);
        var dumping = options.HeapDumps ? DumpHeapAsync(clock) : Task.CompletedTask;
        var load = Task.WhenAll(
            http1.RunPacedAsync(options.HttpRate, 8, () => Http1Async(http1Client), stop.Token),
            h2c.RunPacedAsync(options.H2cRate, 8, () => H2cAsync(h2cClient), stop.Token),
            grpc.RunPacedAsync(options.GrpcStreamRate, 4, () => GrpcStreamAsync(echo), stop.Token),
            Task.WhenAll(Enumerable.Range(0, options.WebSocketMessageRate == 0 ? 0 : options.WebSocketConnections).Select(_ => WebSocketLoopAsync(stop.Token))),
            ReloadLoopAsync(http1Client, stop.Token));
        await load;
        await sampling;
        await dumping;

        // Connections and threads a few seconds after the load stopped: pooled connections may stay open, nothing else.
        await Task.Delay(TimeSpan.FromSeconds(5));
        var after = proxy.HasExited ? null : await SampleNowAsync(clock.Elapsed);
        var countersRead = samples.Any(sample => sample.Runtime is not null);
        if (runtimeCounters is not null)
        {
            await runtimeCounters.DisposeAsync();
        }

        return new SoakResult(
            [http1, h2c, grpc, grpcMessages, webSocket, webSocketConnections, reloads], samples, reloadApplyTimes, after, proxy.HasExited,
            countersRead, heapDumps);
    }

    /// <summary>
    /// A heap dump at the end of the warm-up and one shortly before the load ends, both under load (each runs a full
    /// blocking GC in the proxy, a pause the load sees).
    /// </summary>
    private async Task DumpHeapAsync(Stopwatch clock)
    {
        if (RuntimeCounters.FindTool("dotnet-gcdump", options.ToolsDirectory) is not { } tool)
        {
            Console.WriteLine("soak: --gcdump given but dotnet-gcdump not found (dotnet tool install -g dotnet-gcdump)");
            return;
        }

        var judged = options.Duration - options.WarmUp;
        foreach (var at in new[] { options.WarmUp, options.Duration - TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(30).Ticks, judged.Ticks / 4)) })
        {
            if (at > clock.Elapsed)
            {
                await Task.Delay(at - clock.Elapsed);
            }

            if (!proxy.HasExited && await HeapDumps.TakeAsync(tool, proxy.Pid, clock.Elapsed, proxy.WorkDirectory) is { } dump)
            {
                heapDumps.Add(dump);
            }
        }
    }

    private static HttpClient Client(Version version) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        // Connections are replaced now and then, as a client's pool does over a long run.
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        EnableMultipleHttp2Connections = true,
    })
    {
        DefaultRequestVersion = version,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    private async Task Http1Async(HttpClient client)
    {
        if ((Interlocked.Increment(ref http1Count) & 1) == 0)
        {
            await ExpectAsync(client, new HttpRequestMessage(HttpMethod.Get, new Uri(baseAddress, "/small")), HttpVersion.Version11, "ok"u8.ToArray());
        }
        else
        {
            var post = new HttpRequestMessage(HttpMethod.Post, new Uri(baseAddress, "/echo")) { Content = new ByteArrayContent(EchoBody) };
            await ExpectAsync(client, post, HttpVersion.Version11, EchoBody);
        }
    }

    private async Task H2cAsync(HttpClient client)
    {
        // Alternately to the h2c upstream and to the HTTP/1.1 upstream.
        var path = (Interlocked.Increment(ref h2cCount) & 1) == 0 ? "/h2/small" : "/small";
        await ExpectAsync(client, new HttpRequestMessage(HttpMethod.Get, new Uri(baseAddress, path)), HttpVersion.Version20, "ok"u8.ToArray());
    }

    private static async Task ExpectAsync(HttpClient client, HttpRequestMessage request, Version version, byte[] body)
    {
        request.Version = version;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using (request)
        using (var response = await client.SendAsync(request))
        {
            var content = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK || response.Version != version || !content.AsSpan().SequenceEqual(body))
            {
                throw new InvalidDataException(
                    $"{request.Method} {request.RequestUri!.PathAndQuery}: {(int)response.StatusCode} HTTP/{response.Version}, {content.Length} bytes");
            }
        }
    }

    private async Task GrpcStreamAsync(Echo.EchoClient echo)
    {
        using var call = echo.ServerStream(
            new EchoRequest { Message = "soak", Count = options.GrpcMessagesPerStream }, deadline: DateTime.UtcNow.AddSeconds(30));
        var received = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.Message != "soak")
            {
                throw new InvalidDataException($"gRPC stream message {received}: '{call.ResponseStream.Current.Message}'");
            }

            received++;
            grpcMessages.Succeed();
        }

        if (received != options.GrpcMessagesPerStream)
        {
            throw new InvalidDataException($"gRPC stream ended after {received} of {options.GrpcMessagesPerStream} messages");
        }
    }

    /// <summary>One WebSocket connection after another, each echoing <see cref="MessagesPerWebSocket"/> messages, then closed cleanly.</summary>
    private async Task WebSocketLoopAsync(CancellationToken stop)
    {
        var interval = TimeSpan.FromSeconds((double)options.WebSocketConnections / Math.Max(1, options.WebSocketMessageRate));
        var buffer = new byte[256];
        var clock = Stopwatch.StartNew();
        var due = TimeSpan.Zero;
        while (!stop.IsCancellationRequested)
        {
            using var socket = new ClientWebSocket();
            try
            {
                using (var connect = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
                {
                    await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{proxy.Port}/ws"), connect.Token);
                }

                for (var sent = 0; sent < MessagesPerWebSocket && !stop.IsCancellationRequested; sent++)
                {
                    due = due < clock.Elapsed - interval ? clock.Elapsed : due + interval;
                    if (due > clock.Elapsed)
                    {
                        await Task.Delay(due - clock.Elapsed, CancellationToken.None);
                    }

                    var text = Encoding.ASCII.GetBytes($"message {sent}");
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await socket.SendAsync(text, WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
                    var received = await socket.ReceiveAsync(buffer, timeout.Token);
                    if (received.MessageType != WebSocketMessageType.Text || !buffer.AsSpan(0, received.Count).SequenceEqual(text))
                    {
                        throw new InvalidDataException($"WebSocket echo: {received.MessageType}, {received.Count} bytes");
                    }

                    webSocket.Succeed();
                }

                using var close = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", close.Token);
                webSocketConnections.Succeed();
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or InvalidDataException)
            {
                webSocketConnections.Fail($"{e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>Every interval: rewrite the config as the other variant, then poll until the proxy answers as it.</summary>
    private async Task ReloadLoopAsync(HttpClient client, CancellationToken stop)
    {
        while (true)
        {
            try
            {
                await Task.Delay(options.ReloadInterval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            proxy.Reload();
            var expected = proxy.VariantB ? "B" : "A";
            var started = Stopwatch.StartNew();
            while (true)
            {
                string answer;
                try
                {
                    using var response = await client.GetAsync(new Uri(baseAddress, "/alt/probe"), CancellationToken.None);
                    answer = response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync(CancellationToken.None) : $"status {(int)response.StatusCode}";
                }
                catch (HttpRequestException e)
                {
                    answer = e.Message;
                }

                if (answer == expected)
                {
                    reloadApplyTimes.Add(started.Elapsed);
                    reloads.Succeed();
                    break;
                }

                if (answer is not ("A" or "B"))
                {
                    reloads.Fail($"/alt/probe while reloading to variant {expected}: {answer}");
                }

                if (started.Elapsed > TimeSpan.FromSeconds(30))
                {
                    reloads.Fail($"variant {expected} not served 30 s after the config file was rewritten");
                    break;
                }

                await Task.Delay(50, CancellationToken.None);
            }
        }
    }

    private async Task SampleAsync(Stopwatch clock, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            if (proxy.HasExited)
            {
                return;
            }

            samples.Add(await SampleNowAsync(clock.Elapsed));
            try
            {
                await Task.Delay(options.SampleInterval, stop);
            }
            catch (OperationCanceledException)
            {
                if (!proxy.HasExited)
                {
                    samples.Add(await SampleNowAsync(clock.Elapsed));
                }
            }
        }
    }

    /// <summary>/proc, the proxy's own /metrics (<c>dotnet_*</c>) and, when running, dotnet-counters' latest report.</summary>
    private async Task<ProcessSample> SampleNowAsync(TimeSpan elapsed)
    {
        var sample = ProcessSample.Read(proxy.Pid, elapsed);
        string metrics;
        try
        {
            metrics = await MetricsClient.GetStringAsync(new Uri($"http://127.0.0.1:{proxy.AdminPort}/metrics"));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            metrics = "";
        }

        return sample with
        {
            TotalMemoryBytes = PrometheusText.Value(metrics, "dotnet_total_memory_bytes"),
            Gen2Collections = PrometheusText.Value(metrics, "dotnet_collection_count_total", "generation=\"2\""),
            Runtime = runtimeCounters?.Latest(),
        };
    }
}
