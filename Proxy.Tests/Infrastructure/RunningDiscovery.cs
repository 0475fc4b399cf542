extern alias discovery;

using System.Text.Json.Nodes;
using discovery::ProxyMesh.Discovery;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// The discovery service built exactly as its <c>Program</c> builds it, in-process, listening on a free 127.0.0.1 port.
/// Its content root is a fresh temporary directory (so the embedded store's default file lands there), removed on
/// dispose. Settings are configuration keys, e.g. <c>["Discovery:Store"] = "DynamoDb"</c>.
/// </summary>
public sealed class RunningDiscovery : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;

    private RunningDiscovery(WebApplication app, string directory)
    {
        _app = app;
        _directory = directory;
        Uri = new Uri(app.Urls.First());
    }

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Uri { get; }

    public IServiceProvider Services => _app.Services;

    /// <param name="settings">Configuration keys and values, layered over the test defaults (listen on 127.0.0.1:0, warnings only).</param>
    /// <param name="time">The clock the service runs on, e.g. a FakeTimeProvider; the system clock by default.</param>
    /// <param name="services">Changes to the service's services after its own, e.g. a store wrapped to hold its reads.</param>
    public static Task<RunningDiscovery> StartAsync(
        IDictionary<string, string?>? settings = null, TimeProvider? time = null, Action<IServiceCollection>? services = null)
    {
        var json = new JsonObject();
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            var node = json;
            var parts = key.Split(':');
            foreach (var part in parts[..^1])
            {
                node = (JsonObject)(node[part] ??= new JsonObject());
            }

            node[parts[^1]] = value;
        }

        return StartAsync(json.ToJsonString(), time, services);
    }

    /// <param name="json">A configuration file's contents, given with <c>--config</c> as a user would.</param>
    /// <param name="time">The clock the service runs on, e.g. a FakeTimeProvider; the system clock by default.</param>
    /// <param name="replaceServices">Changes to the service's services after its own.</param>
    public static async Task<RunningDiscovery> StartAsync(string json, TimeProvider? time = null, Action<IServiceCollection>? replaceServices = null)
    {
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", "discovery-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(
            Path.Combine(directory, "appsettings.json"),
            """{ "Logging": { "LogLevel": { "Default": "Warning" } }, "Discovery": { "Url": "http://127.0.0.1:0" } }""");
        var config = Path.Combine(directory, "discovery.json");
        await File.WriteAllTextAsync(config, json);

        var app = DiscoveryApplication.Build(
            ["--config", config],
            directory,
            services =>
            {
                if (time is not null)
                {
                    services.AddSingleton(time);
                }

                replaceServices?.Invoke(services);
            });
        await app.StartAsync();
        return new RunningDiscovery(app, directory);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless.
        }
    }
}
