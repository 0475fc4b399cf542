using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using HdrHistogram;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ProxyMesh.Bench.GrpcTranscoding;
using ProxyMesh.Proxy;
using ProxyMesh.Proxy.Listeners;

// Transcoded JSON unary vs plain gRPC unary through the same proxy, to the same h2c upstream, same concurrency.
var seconds = Option("--seconds", 10);
var warmup = Option("--warmup", 5);
var concurrency = Option("--concurrency", 32);
var rounds = Option("--rounds", 3);
var output = OptionText("--out", "bench/results/grpc-transcoding.md");

var directory = Path.Combine(Path.GetTempPath(), $"proxymesh-bench-transcoding-{Guid.NewGuid():N}");
Directory.CreateDirectory(directory);
var descriptorSet = Path.Combine(directory, "bench.pb");
Protoc(descriptorSet);

var upstream = await StartUpstreamAsync();
var upstreamAddress = upstream.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
var settings = new JsonObject
{
    ["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["Default"] = "Warning" } },
    ["ProxyMesh"] = new JsonObject
    {
        ["ServiceName"] = "bench",
        ["Listeners"] = new JsonObject { ["ingress"] = new JsonObject { ["Url"] = "http://127.0.0.1:0" } },
        ["Admin"] = new JsonObject { ["Url"] = "http://127.0.0.1:0" },
        ["AccessLog"] = new JsonObject { ["Enabled"] = false },
        ["GrpcTranscoding"] = new JsonObject
        {
            ["items"] = new JsonObject { ["DescriptorSet"] = descriptorSet, ["Services"] = new JsonArray("proxymesh.bench.Items") },
        },
    },
    ["ReverseProxy"] = new JsonObject
    {
        ["Routes"] = new JsonObject
        {
            ["items"] = new JsonObject
            {
                ["ClusterId"] = "items",
                ["Match"] = new JsonObject { ["Path"] = "/{**all}" },
                ["Metadata"] = new JsonObject { ["ProxyMesh.GrpcTranscoding"] = "items" },
            },
        },
        ["Clusters"] = new JsonObject
        {
            ["items"] = new JsonObject
            {
                ["Destinations"] = new JsonObject { ["d0"] = new JsonObject { ["Address"] = upstreamAddress } },
                ["HttpRequest"] = new JsonObject { ["Version"] = "2", ["VersionPolicy"] = "RequestVersionExact" },
            },
        },
    },
};
await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), settings.ToJsonString());
var proxy = ProxyMeshApplication.Build([], directory);
await proxy.StartAsync();
var ingress = proxy.Services.GetRequiredService<BoundListeners>().UriOf("ingress");

var request = new CreateItemRequest
{
    Shelf = "fiction",
    Item = new Item
    {
        Title = "The Left Hand of Darkness", Id = 1_234_567_890_123, Quantity = 7, Price = 12.5, InStock = true,
        Tags = { "sf", "classic", "hugo" }, Labels = { ["lang"] = "en", ["format"] = "paperback" },
        Updated = Timestamp.FromDateTime(new DateTime(2024, 5, 1, 12, 0, 0, DateTimeKind.Utc)), Kind = Kind.Book,
    },
};
var json = JsonFormatter.Default.Format(request.Item);

using var channel = GrpcChannel.ForAddress(ingress, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { UseProxy = false, EnableMultipleHttp2Connections = true } });
var grpc = new Items.ItemsClient(channel);
using var http2 = new HttpClient(new SocketsHttpHandler { UseProxy = false, EnableMultipleHttp2Connections = true })
{
    BaseAddress = ingress, DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
};
using var http1 = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = concurrency }) { BaseAddress = ingress };

async Task Grpc() => await grpc.CreateAsync(request);
async Task JsonOver(HttpClient client)
{
    using var content = new StringContent(json, Encoding.UTF8, "application/json");
    using var response = await client.PostAsync("/v1/shelves/fiction/items", content);
    if (response.StatusCode != HttpStatusCode.OK)
    {
        throw new InvalidOperationException($"transcoded call answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    await response.Content.ReadAsByteArrayAsync();
}

var scenarios = new (string Name, Func<Task> Call)[]
{
    ("plain gRPC (h2c)", Grpc),
    ("transcoded JSON (h2c)", () => JsonOver(http2)),
    ("transcoded JSON (HTTP/1.1)", () => JsonOver(http1)),
};
// Rounds interleave the scenarios so that a change in the machine's load hits each of them alike.
var totals = scenarios.Select(_ => (Count: 0L, Errors: 0L, Histogram: new LongHistogram(TimeStamp.Seconds(30), 3), Elapsed: TimeSpan.Zero)).ToArray();
foreach (var (_, call) in scenarios)
{
    await RunAsync(call, TimeSpan.FromSeconds(warmup));
}

for (var round = 0; round < rounds; round++)
{
    for (var i = 0; i < scenarios.Length; i++)
    {
        var (count, errors, histogram, elapsed) = await RunAsync(scenarios[i].Call, TimeSpan.FromSeconds(seconds));
        totals[i].Count += count;
        totals[i].Errors += errors;
        totals[i].Histogram.Add(histogram);
        totals[i].Elapsed += elapsed;
        Console.WriteLine($"round {round + 1} {scenarios[i].Name}: {count / elapsed.TotalSeconds:F0} calls/s");
    }
}

var results = scenarios.Select((scenario, i) => (
    scenario.Name,
    Rate: totals[i].Count / totals[i].Elapsed.TotalSeconds,
    P50: totals[i].Histogram.GetValueAtPercentile(50) / 1000.0,
    P99: totals[i].Histogram.GetValueAtPercentile(99) / 1000.0,
    totals[i].Errors)).ToList();
var plain = results[0].Rate;
var report = new StringBuilder();
report.AppendLine("# gRPC JSON transcoding: transcoded JSON unary vs plain gRPC through the proxy");
report.AppendLine();
report.AppendLine(CultureInfo.InvariantCulture, $"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC with `bench/grpc-transcoding/run.sh` (`--seconds {seconds} --warmup {warmup} --concurrency {concurrency} --rounds {rounds}`), Release build,");
report.AppendLine(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores shared by the load generator, the proxy and the upstream (all in one process, 127.0.0.1),");
report.AppendLine("on a machine loaded by other builds at the same time: read the ratios, not the absolute numbers.");
report.AppendLine();
report.AppendLine("Each call: `Items.Create` (a 10-field message with a Timestamp, map, repeated and enum fields) through the same");
report.AppendLine("route to the same h2c Kestrel gRPC upstream; JSON is `POST /v1/shelves/{shelf}/items` with `body: \"item\"`.");
report.AppendLine(CultureInfo.InvariantCulture, $"{concurrency} callers in a closed loop; each scenario warmed up for {warmup} s, then {rounds} rounds of {seconds} s per scenario, interleaved.");
report.AppendLine(CultureInfo.InvariantCulture, $"Machine load average when the run ended: {File.ReadAllText("/proc/loadavg").Split(' ')[0]} (2 cores).");
report.AppendLine();
report.AppendLine("| scenario | calls/s | × plain gRPC | p50 ms | p99 ms | errors |");
report.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
foreach (var (name, rate, p50, p99, errors) in results)
{
    report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {rate:F0} | {rate / plain:F2} | {p50:F2} | {p99:F2} | {errors} |");
}

report.AppendLine();
report.AppendLine("Target (issue 13): transcoded JSON ≥ 0.8× plain gRPC through the proxy.");
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
await File.WriteAllTextAsync(output, report.ToString());
Console.WriteLine(report);

await proxy.StopAsync();
await upstream.StopAsync();
Directory.Delete(directory, recursive: true);

async Task<(long Count, long Errors, LongHistogram Histogram, TimeSpan Elapsed)> RunAsync(Func<Task> call, TimeSpan duration)
{
    var histograms = new LongHistogram[concurrency];
    var counts = new long[concurrency];
    var errors = new long[concurrency];
    var stopwatch = Stopwatch.StartNew();
    var workers = Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
    {
        var histogram = histograms[worker] = new LongHistogram(TimeStamp.Seconds(30), 3);
        while (stopwatch.Elapsed < duration)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                await call();
                histogram.RecordValue((long)Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                counts[worker]++;
            }
            catch (Exception e) when (e is RpcException or HttpRequestException or InvalidOperationException)
            {
                errors[worker]++;
            }
        }
    })).ToArray();
    await Task.WhenAll(workers);
    var elapsed = stopwatch.Elapsed;
    var total = new LongHistogram(TimeStamp.Seconds(30), 3);
    foreach (var histogram in histograms)
    {
        total.Add(histogram);
    }

    return (counts.Sum(), errors.Sum(), total, elapsed);
}

static async Task<WebApplication> StartUpstreamAsync()
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
    builder.Services.AddGrpc();
    var app = builder.Build();
    app.MapGrpcService<ItemsService>();
    await app.StartAsync();
    return app;
}

static void Protoc(string descriptorSet)
{
    var protos = Path.Combine(AppContext.BaseDirectory, "protos");
    var start = new ProcessStartInfo("protoc") { RedirectStandardError = true };
    foreach (var argument in new[] { $"--proto_path={protos}", "--proto_path=/usr/include", "--include_imports", $"--descriptor_set_out={descriptorSet}", "bench.proto" })
    {
        start.ArgumentList.Add(argument);
    }

    using var process = Process.Start(start)!;
    var error = process.StandardError.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"protoc failed: {error}");
    }
}

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}

string OptionText(string name, string fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
}

/// <summary>Answers with the item it was given, named after its shelf.</summary>
internal sealed class ItemsService : Items.ItemsBase
{
    public override Task<Item> Create(CreateItemRequest request, ServerCallContext context)
    {
        var item = request.Item;
        item.Name = $"shelves/{request.Shelf}/items/{item.Id}";
        return Task.FromResult(item);
    }
}
