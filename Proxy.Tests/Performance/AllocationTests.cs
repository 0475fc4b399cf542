using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Xunit.Abstractions;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Tests.Performance;

/// <summary>Alone in its collection: the allocation counter is process-wide, so no other test may run meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasurement
{
    public const string Name = "Allocation";
}

/// <summary>
/// What ProxyMesh's own code allocates per proxied request on the shipped-default path (access log on at its default
/// sampling, stats, request id, retries, circuit breakers, outlier detection), measured against plain YARP forwarding
/// the same requests to the same backend in the same process: the client's and the backend's allocations are the same
/// for both and cancel out.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class AllocationTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>
    /// ProxyMesh may allocate at most this much per request beyond plain YARP: 956 B measured in a Debug build, as
    /// <c>dotnet test</c> runs it, 588 B in Release (before the third round of savings in docs/performance.md: 2.17–2.33 KB
    /// Debug, 1.7 KB Release). Issue 11's target is 512 B; docs/performance.md lists what the rest is.
    /// </summary>
    private const long MaxExtraBytesPerRequest = 1_280;

    private const int Requests = 2_000;

    private readonly string _log = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
    private readonly LogCount _logs = new();
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;
    private WebApplication _yarp = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_log)!);
        _backend = await Backend.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")));
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("all", "app");
        config.Root["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["Default"] = "Information" } };
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = _log };
        _proxy = await RunningProxy.StartAsync(config, services => services.AddSingleton<ILoggerProvider>(new CountingLoggerProvider(_logs)));
        _yarp = await StartPlainYarpAsync(_backend.Address);
    }

    [Fact]
    public async Task A_default_proxied_request_allocates_a_bounded_amount_more_than_plain_YARP_and_logs_nothing()
    {
        var proxyMesh = new Uri(_proxy.Ingress, "/small");
        var yarp = new Uri(PlainYarpAddress(), "/small");
        using var client = new HttpClient();
        await SendAsync(client, proxyMesh, Requests);
        await SendAsync(client, yarp, Requests);

        // The smallest of a few interleaved measurements: a timer or a background service that allocates during one
        // of them should not be charged to the request path.
        long bestProxyMesh = long.MaxValue, bestYarp = long.MaxValue;
        var logsBefore = _logs.Count;
        for (var round = 0; round < 3; round++)
        {
            bestYarp = Math.Min(bestYarp, await BytesPerRequestAsync(client, yarp));
            bestProxyMesh = Math.Min(bestProxyMesh, await BytesPerRequestAsync(client, proxyMesh));
        }

        var logged = _logs.Count - logsBefore;
        output.WriteLine($"allocated per request: ProxyMesh {bestProxyMesh} B, plain YARP {bestYarp} B, difference {bestProxyMesh - bestYarp} B; log entries: {logged}");
        Assert.True(
            bestProxyMesh - bestYarp <= MaxExtraBytesPerRequest,
            $"ProxyMesh allocates {bestProxyMesh} B per request, plain YARP {bestYarp} B: {bestProxyMesh - bestYarp} B more (at most {MaxExtraBytesPerRequest})");
        Assert.True(logged < 3 * Requests / 100, $"{logged} log entries for {3 * Requests} requests: something logs per request");
    }

    private static async Task<long> BytesPerRequestAsync(HttpClient client, Uri uri)
    {
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await SendAsync(client, uri, Requests);
        return (GC.GetTotalAllocatedBytes(precise: true) - before) / Requests;
    }

    private static async Task SendAsync(HttpClient client, Uri uri, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync(uri, HttpCompletionOption.ResponseContentRead);
            response.EnsureSuccessStatusCode();
        }
    }

    private Uri PlainYarpAddress() => new(_yarp.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>YARP as its documentation sets it up, with the same route and cluster, and logging off.</summary>
    private static async Task<WebApplication> StartPlainYarpAsync(string backend)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddReverseProxy().LoadFromMemory(
            [new RouteConfig { RouteId = "all", ClusterId = "app", Match = new RouteMatch { Path = "/{**catch-all}" } }],
            [new ClusterConfig { ClusterId = "app", Destinations = new Dictionary<string, DestinationConfig> { ["d0"] = new() { Address = backend } } }]);
        var app = builder.Build();
        app.MapReverseProxy();
        await app.StartAsync();
        return app;
    }

    public async Task DisposeAsync()
    {
        await _yarp.DisposeAsync();
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
        File.Delete(_log);
    }

    private sealed class LogCount
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Add() => Interlocked.Increment(ref _count);
    }

    /// <summary>Counts the log entries the proxy writes at the levels its configuration enables.</summary>
    private sealed class CountingLoggerProvider(LogCount count) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Counter(count);

        public void Dispose()
        {
        }

        private sealed class Counter(LogCount count) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                count.Add();
        }
    }
}
