using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Web;
using HdrHistogram;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Bench.GrpcBridging;
using ProxyMesh.Proxy;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Tests.Grpc;

// gRPC unary calls/s and latency through the proxy: plain gRPC (h2c), gRPC-Web binary and text (h2c and HTTP/1.1).
// Upstream, proxy and load generator share this process and the machine's cores; compare the rows, not the absolutes.
var seconds = Option("--seconds", 10);
var warmup = Option("--warmup", 5);
var concurrency = Option("--concurrency", 32);
var rounds = Option("--rounds", 3);

await using var upstream = await Upstream.StartAsync();
var directory = Directory.CreateTempSubdirectory("proxymesh-grpc-bench-").FullName;
await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), Settings(upstream.Address));
await using var proxy = ProxyMeshApplication.Build([], directory);
await proxy.StartAsync();
var ingress = proxy.Services.GetRequiredService<BoundListeners>().UriOf("ingress");

(string Name, Func<GrpcChannel> Channel)[] scenarios =
[
    ("plain gRPC (h2c)", () => Channel(ingress, handler: null, HttpVersion.Version20)),
    ("gRPC-Web binary (h2c)", () => Channel(ingress, GrpcWebMode.GrpcWeb, HttpVersion.Version20)),
    ("gRPC-Web text (h2c)", () => Channel(ingress, GrpcWebMode.GrpcWebText, HttpVersion.Version20)),
    ("gRPC-Web binary (HTTP/1.1)", () => Channel(ingress, GrpcWebMode.GrpcWeb, HttpVersion.Version11)),
    ("gRPC-Web text (HTTP/1.1)", () => Channel(ingress, GrpcWebMode.GrpcWebText, HttpVersion.Version11)),
];

// Every scenario is warmed up first (JIT tiering), then measured in interleaved rounds so that a change in the
// machine's load affects all of them alike.
var clients = scenarios.Select(scenario => (scenario.Name, Channel: scenario.Channel())).ToArray();
foreach (var (_, channel) in clients)
{
    await RunAsync(new Echo.EchoClient(channel), TimeSpan.FromSeconds(warmup), concurrency, null);
}

var totals = clients.Select(_ => (Calls: 0L, Errors: 0L, Elapsed: TimeSpan.Zero, Histogram: new LongHistogram(TimeStamp.Seconds(10), 3))).ToArray();
for (var round = 0; round < rounds; round++)
{
    for (var i = 0; i < clients.Length; i++)
    {
        var (calls, errors, elapsed) = await RunAsync(new Echo.EchoClient(clients[i].Channel), TimeSpan.FromSeconds(seconds), concurrency, totals[i].Histogram);
        totals[i] = (totals[i].Calls + calls, totals[i].Errors + errors, totals[i].Elapsed + elapsed, totals[i].Histogram);
        Console.WriteLine($"round {round + 1}, {clients[i].Name}: {calls / elapsed.TotalSeconds:F0} calls/s");
    }
}

var rows = clients.Select((client, i) => (
    client.Name,
    CallsPerSecond: totals[i].Calls / totals[i].Elapsed.TotalSeconds,
    P50: totals[i].Histogram.GetValueAtPercentile(50) * 1000.0 / Stopwatch.Frequency,
    P99: totals[i].Histogram.GetValueAtPercentile(99) * 1000.0 / Stopwatch.Frequency,
    totals[i].Errors)).ToList();
foreach (var (_, channel) in clients)
{
    channel.Dispose();
}

var plain = rows[0].CallsPerSecond;
var report = new StringBuilder()
    .AppendLine("| scenario | calls/s | × plain | P50 ms | P99 ms | errors |")
    .AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
foreach (var row in rows)
{
    report.AppendLine(CultureInfo.InvariantCulture, $"| {row.Name} | {row.CallsPerSecond:F0} | {row.CallsPerSecond / plain:F2} | {row.P50:F2} | {row.P99:F2} | {row.Errors} |");
}

Console.WriteLine();
Console.WriteLine(report); // recorded, with the run's conditions, in bench/results/grpc-bridging.md
await proxy.StopAsync();
Directory.Delete(directory, recursive: true);
return 0;

static async Task<(long Calls, long Errors, TimeSpan Elapsed)> RunAsync(Echo.EchoClient client, TimeSpan duration, int concurrency, LongHistogram? histogram)
{
    long calls = 0, errors = 0;
    var request = new EchoRequest { Message = "ping" };
    var started = Stopwatch.StartNew();
    var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
    {
        while (started.Elapsed < duration)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                await client.UnaryAsync(request);
                Interlocked.Increment(ref calls);
            }
            catch (RpcException)
            {
                Interlocked.Increment(ref errors);
            }

            if (histogram is not null)
            {
                lock (histogram)
                {
                    histogram.RecordValue(Stopwatch.GetTimestamp() - start);
                }
            }
        }
    }));
    await Task.WhenAll(workers);
    return (calls, errors, started.Elapsed);
}

static GrpcChannel Channel(Uri address, GrpcWebMode? handler, Version version)
{
    var sockets = new SocketsHttpHandler { UseProxy = false, EnableMultipleHttp2Connections = true };
    return GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        HttpHandler = handler is { } mode ? new GrpcWebHandler(mode, sockets) : sockets,
        HttpVersion = version,
        HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    });
}

static string Settings(string upstream) => new JsonObject
{
    ["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["Default"] = "Warning" } },
    ["ProxyMesh"] = new JsonObject
    {
        ["ServiceName"] = "bench",
        ["Listeners"] = new JsonObject { ["ingress"] = new JsonObject { ["Url"] = "http://127.0.0.1:0" } },
        ["Admin"] = new JsonObject { ["Url"] = "http://127.0.0.1:0" },
        ["AccessLog"] = new JsonObject { ["Enabled"] = false },
    },
    ["ReverseProxy"] = new JsonObject
    {
        ["Routes"] = new JsonObject
        {
            ["echo"] = new JsonObject
            {
                ["ClusterId"] = "echo",
                ["Match"] = new JsonObject { ["Path"] = "/{**catch-all}" },
                ["Metadata"] = new JsonObject { ["ProxyMesh.GrpcWeb"] = "true" },
            },
        },
        ["Clusters"] = new JsonObject
        {
            ["echo"] = new JsonObject
            {
                ["HttpRequest"] = new JsonObject { ["Version"] = "2", ["VersionPolicy"] = "RequestVersionExact" },
                ["Destinations"] = new JsonObject { ["d0"] = new JsonObject { ["Address"] = upstream } },
            },
        },
    },
}.ToJsonString();

int Option(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
