using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Admin;

public static class AdminServiceCollectionExtensions
{
    public static IServiceCollection AddProxyMeshAdmin(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ProxyLifecycle>();
        // Only the admin health service is hosted; unknown gRPC services fall through to the proxy routes.
        services.AddGrpc(options => options.IgnoreUnknownServices = true);
        return services;
    }

    /// <summary>Tracks the server state through the host's lifetime and maps the admin endpoints.</summary>
    public static WebApplication MapProxyMeshAdmin(this WebApplication app)
    {
        var lifecycle = app.Services.GetRequiredService<ProxyLifecycle>();
        app.Lifetime.ApplicationStarted.Register(lifecycle.MarkStarted);
        app.Lifetime.ApplicationStopping.Register(lifecycle.MarkStopping);
        app.MapAdminEndpoints();
        app.MapGrpcService<AdminHealthService>().WithMetadata(ListenerBinding.Admin);
        return app;
    }
}
