using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

/// <summary>A real upstream that answers with its name and the status it is told to; <c>/hang</c> waits for the client to go away.</summary>
public sealed class CommandedBackend : IAsyncDisposable
{
    private Backend _backend = null!;

    public string Name { get; private init; } = "";

    private volatile int _status = 200;

    public int Status
    {
        get => _status;
        set => _status = value;
    }

    public TaskCompletionSource Hanging { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Address => _backend.Address;

    public static async Task<CommandedBackend> StartAsync(string name)
    {
        var commanded = new CommandedBackend { Name = name };
        commanded._backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            context.Response.Headers["x-backend"] = name;
            if (context.Request.Path == "/hang")
            {
                commanded.Hanging.TrySetResult();
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            context.Response.StatusCode = commanded.Status;
        }));
        return commanded;
    }

    public ValueTask DisposeAsync() => _backend.DisposeAsync();
}

/// <summary>Helpers shared by the outlier detection tests: clusters with round-robin balancing, policies, stats.</summary>
public static class OutlierDetectionTestBed
{
    public static ProxyConfig RoundRobinCluster(this ProxyConfig config, string id, params string[] addresses)
    {
        config.Cluster(id, addresses);
        config.Clusters[id]!["LoadBalancingPolicy"] = "RoundRobin";
        return config;
    }

    public static ProxyConfig Policy(this ProxyConfig config, string? cluster, JsonObject policy)
    {
        var mesh = (JsonObject)config.Root["ProxyMesh"]!;
        if (cluster is null)
        {
            mesh["Defaults"] ??= new JsonObject();
            mesh["Defaults"]!["OutlierDetection"] = policy;
        }
        else
        {
            mesh["Clusters"] ??= new JsonObject();
            mesh["Clusters"]![cluster] = new JsonObject { ["OutlierDetection"] = policy };
        }

        return config;
    }

    /// <summary>
    /// One attempt per request, so that each test request is exactly one outcome (retries wait their back-off on the
    /// fake clock, which only moves when a test says so).
    /// </summary>
    public static ProxyConfig WithoutRetries(this ProxyConfig config)
    {
        var mesh = (JsonObject)config.Root["ProxyMesh"]!;
        mesh["Defaults"] ??= new JsonObject();
        mesh["Defaults"]!["Retry"] = new JsonObject { ["NumRetries"] = 0 };
        return config;
    }

    public static Task<RunningProxy> StartAsync(ProxyConfig config, WatchedTimeProvider clock, Random? random = null) =>
        RunningProxy.StartAsync(config.WithoutRetries(), services =>
        {
            services.AddSingleton<TimeProvider>(clock);
            services.AddSingleton(random ?? new FixedRandom(0.5));
        });

    /// <summary>Sends <paramref name="count"/> requests one after another; the backends that answered, in order.</summary>
    public static async Task<List<string>> SendAsync(HttpClient client, int count, string path = "/")
    {
        var reached = new List<string>();
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync(path);
            reached.Add(response.Headers.TryGetValues("x-backend", out var names) ? names.First() : $"({(int)response.StatusCode})");
        }

        return reached;
    }

    public static Task<double> Detected(RunningProxy proxy, string type, string cluster = "orders") =>
        MetricsScrape.ValueAsync(proxy, "proxymesh_outlier_detection_ejections_detected_total", $"cluster=\"{cluster}\",type=\"{type}\"");

    public static Task<double> Enforced(RunningProxy proxy, string type, string cluster = "orders") =>
        MetricsScrape.ValueAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", $"cluster=\"{cluster}\",type=\"{type}\"");

    public static Task<double> Active(RunningProxy proxy, string cluster = "orders") =>
        MetricsScrape.ValueAsync(proxy, "proxymesh_outlier_detection_ejections_active", $"cluster=\"{cluster}\"");

    /// <summary>Every upstream request the proxy finished for a cluster, whatever its code: once it counts one, outlier detection has seen it.</summary>
    public static async Task<double> UpstreamRequests(RunningProxy proxy, string cluster = "orders")
    {
        using var admin = Clients.Http1(proxy.Admin);
        var text = await admin.GetStringAsync("/metrics");
        var total = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("proxymesh_upstream_rq_total{", StringComparison.Ordinal) && line.Contains($"cluster=\"{cluster}\"", StringComparison.Ordinal))
            {
                total += double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    /// <summary>Waits until a batch of requests reaches exactly the given backends.</summary>
    public static Task AssertTrafficGoesToAsync(HttpClient client, string[] backends, string what) =>
        Eventually.AssertAsync(async () => (await SendAsync(client, backends.Length * 3)).ToHashSet().SetEquals(backends), what);
}

/// <summary>Three upstreams that fail on command and a fake clock, fresh for each test of a class that derives from it.</summary>
public abstract class ThreeCommandedBackends : IAsyncLifetime
{
    /// <summary>The outlier sweep interval the tests configure.</summary>
    protected static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected WatchedTimeProvider Clock { get; } = new();

    protected CommandedBackend A { get; private set; } = null!;

    protected CommandedBackend B { get; private set; } = null!;

    protected CommandedBackend C { get; set; } = null!;

    public async Task InitializeAsync()
    {
        A = await CommandedBackend.StartAsync("a");
        B = await CommandedBackend.StartAsync("b");
        C = await CommandedBackend.StartAsync("c");
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
        await C.DisposeAsync();
    }
}
