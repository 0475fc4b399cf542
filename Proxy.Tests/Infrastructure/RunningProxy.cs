using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A ProxyMesh built exactly as <c>Program</c> builds it, on real Kestrel listeners, from an appsettings.json in a
/// directory of its own (so that tests can rewrite it to exercise hot reload).
/// </summary>
public sealed class RunningProxy : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RunningProxy(WebApplication app, string directory)
    {
        _app = app;
        Directory = directory;
        Listeners = app.Services.GetRequiredService<BoundListeners>();
    }

    public string Directory { get; }

    public string SettingsPath => Path.Combine(Directory, "appsettings.json");

    public BoundListeners Listeners { get; }

    public IServiceProvider Services => _app.Services;

    public Uri Ingress => Listeners.UriOf("ingress");

    public Uri Egress => Listeners.UriOf("egress");

    public Uri Admin => Listeners.UriOf("admin");

    public static Task<RunningProxy> StartAsync(ProxyConfig config, params string[] args) => StartAsync(config, null, args);

    public static async Task<RunningProxy> StartAsync(ProxyConfig config, Action<IServiceCollection>? replaceServices, params string[] args)
    {
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), config.ToJson());
        var app = ProxyMeshApplication.Build(args, directory, replaceServices);
        await app.StartAsync();
        return new RunningProxy(app, directory);
    }

    /// <summary>
    /// Replaces appsettings.json atomically, as deployment tools do (write aside, then rename); the proxy reloads it on
    /// its own. An in-place rewrite can be read half-written, which the proxy would rightly reject.
    /// </summary>
    public async Task RewriteSettingsAsync(string json)
    {
        var aside = SettingsPath + ".new";
        await File.WriteAllTextAsync(aside, json);
        File.Move(aside, SettingsPath, overwrite: true);
    }

    public Task RewriteSettingsAsync(ProxyConfig config) => RewriteSettingsAsync(config.ToJson());

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless.
        }
    }
}
