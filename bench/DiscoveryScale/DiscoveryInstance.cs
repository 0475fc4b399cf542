using System.Globalization;
using Microsoft.AspNetCore.Builder;
using ProxyMesh.Discovery;

namespace ProxyMesh.Bench.DiscoveryScale;

/// <summary>The real discovery service, built as its Program builds it, in-process on a free 127.0.0.1 port, on DynamoDB.</summary>
internal sealed class DiscoveryInstance : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DiscoveryInstance(WebApplication app)
    {
        _app = app;
        Uri = new Uri(app.Urls.First());
    }

    public Uri Uri { get; }

    /// <param name="cacheTtl">Discovery:CacheTtl (already compressed); zero reads the store on every GET.</param>
    public static async Task<DiscoveryInstance> StartAsync(Uri dynamoDb, string table, TimeSpan cacheTtl)
    {
        string[] args =
        [
            "--Discovery:Url=http://127.0.0.1:0",
            "--Discovery:Store=DynamoDb",
            $"--Discovery:DynamoDb:ServiceUrl={dynamoDb}",
            $"--Discovery:DynamoDb:Table={table}",
            "--Discovery:DynamoDb:CreateTable=true",
            "--Discovery:CacheTtl=" + cacheTtl.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture),
            "--Logging:LogLevel:Default=Warning",
        ];
        var app = DiscoveryApplication.Build(args, AppContext.BaseDirectory);
        await app.StartAsync();
        return new DiscoveryInstance(app);
    }

    /// <summary>The counters the harness reads from <c>/metrics</c>.</summary>
    public static async Task<Counters> ScrapeAsync(HttpClient client, Uri instance)
    {
        var text = await client.GetStringAsync(new Uri(instance, "/metrics"));
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var space = line.LastIndexOf(' ');
            if (line.StartsWith("discovery_", StringComparison.Ordinal) && space > 0)
            {
                values[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            }
        }

        double Value(string series) => values.GetValueOrDefault(series);
        return new Counters(
            Value("discovery_reads_total"),
            Value("discovery_cache_hits_total"),
            Value("discovery_cache_misses_total"),
            Value("discovery_store_requests_total{operation=\"read\"}"),
            Value("discovery_store_errors_total{operation=\"read\"}"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal sealed record Counters(double Reads, double CacheHits, double CacheMisses, double StoreReads, double StoreReadErrors)
    {
        public static Counters operator -(Counters after, Counters before) => new(
            after.Reads - before.Reads,
            after.CacheHits - before.CacheHits,
            after.CacheMisses - before.CacheMisses,
            after.StoreReads - before.StoreReads,
            after.StoreReadErrors - before.StoreReadErrors);
    }
}
