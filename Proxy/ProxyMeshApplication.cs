using ProxyMesh.Proxy.Admin;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Routing;

namespace ProxyMesh.Proxy;

/// <summary>Composes the sidecar: one <c>Add…</c> per capability, then its middleware and endpoints.</summary>
public static class ProxyMeshApplication
{
    /// <exception cref="InvalidConfigurationException">The configuration cannot be served.</exception>
    public static WebApplication Build(string[] args, string? contentRoot = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = contentRoot });
        var configuration = builder.AddProxyMeshConfiguration(args);
        builder.Services.AddProxyMeshObservability();
        builder.Services.AddProxyMeshListeners();
        builder.Services.AddProxyMeshRouting(configuration);
        builder.Services.AddProxyMeshAdmin();

        var app = builder.Build();
        app.UseProxyMeshConfiguration();
        app.MapProxyMeshAdmin();
        app.MapProxyMeshMetrics();
        app.MapProxyMeshRoutes();
        return app;
    }
}
