using ProxyMesh.Proxy.Admin;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Discovery;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.LoadBalancing.ZoneAware;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.Overload;
using ProxyMesh.Proxy.Routing;

namespace ProxyMesh.Proxy;

/// <summary>Composes the sidecar: one <c>Add…</c> per capability, then its middleware and endpoints.</summary>
public static class ProxyMeshApplication
{
    /// <param name="args">Command-line arguments.</param>
    /// <param name="contentRoot">Where appsettings.json is read from; the current directory by default.</param>
    /// <param name="replaceServices">Swaps in services such as a fake <see cref="TimeProvider"/>, as tests do.</param>
    /// <exception cref="InvalidConfigurationException">The configuration cannot be served.</exception>
    public static WebApplication Build(string[] args, string? contentRoot = null, Action<IServiceCollection>? replaceServices = null)
    {
        var builder = CreateBuilder(args, contentRoot);
        var configuration = builder.AddProxyMeshConfiguration(args);
        builder.Services.AddProxyMeshObservability(configuration);
        builder.Services.AddProxyMeshListeners();
        builder.Services.AddProxyMeshRouting(configuration);
        builder.Services.AddProxyMeshDiscovery(configuration);
        builder.Services.AddProxyMeshResilience();
        builder.Services.AddProxyMeshLoadBalancing();
        builder.Services.AddProxyMeshZoneAwareRouting(configuration);
        builder.Services.AddProxyMeshAdmin();
        builder.Services.AddProxyMeshOverload(configuration);
        replaceServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseProxyMeshConfiguration();
        app.UseDownstreamTrust();
        app.UseProxyMeshObservability();
        app.UseProxyMeshOverload();
        app.MapProxyMeshAdmin();
        app.MapProxyMeshMetrics();
        app.MapProxyMeshRoutes();
        return app;
    }

    private static WebApplicationBuilder CreateBuilder(string[] args, string? contentRoot)
    {
        try
        {
            return WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = contentRoot });
        }
        catch (InvalidDataException e) when (e.InnerException is FormatException)
        {
            // The host reads appsettings*.json before ProxyMesh can guard them; report it as any other bad file.
            var innermost = e.GetBaseException();
            throw new InvalidConfigurationException([$"{FileNameIn(e.Message)}: invalid JSON: {e.Message} {innermost.Message}"]);
        }
    }

    private static string FileNameIn(string message)
    {
        var start = message.IndexOf('\'');
        var end = message.LastIndexOf('\'');
        return end > start ? Path.GetFileName(message[(start + 1)..end]) : "configuration file";
    }
}
