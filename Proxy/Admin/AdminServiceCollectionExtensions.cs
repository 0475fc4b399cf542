using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Admin;

public static class AdminServiceCollectionExtensions
{
    public static IServiceCollection AddProxyMeshAdmin(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ProxyLifecycle>();
        services.AddOptions<HostOptions>().Configure<IOptions<ProxyMeshOptions>>((host, mesh) => host.ShutdownTimeout = mesh.Value.ShutdownTimeout);
        // Only the admin health service is hosted; unknown gRPC services fall through to the proxy routes.
        services.AddGrpc(options => options.IgnoreUnknownServices = true);
        services.AddSingleton<AdminAccessMiddleware>();
        services.AddSingleton<IConfigurationValidator, AdminConfigValidator>();
        return services;
    }

    /// <summary>Tracks the server state through the host's lifetime, guards the admin listener and maps the admin endpoints.</summary>
    public static WebApplication MapProxyMeshAdmin(this WebApplication app)
    {
        var lifecycle = app.Services.GetRequiredService<ProxyLifecycle>();
        app.Lifetime.ApplicationStarted.Register(lifecycle.MarkStarted);
        app.Lifetime.ApplicationStopping.Register(lifecycle.MarkStopping);
        WarnWhenExposed(app.Services.GetRequiredService<IOptions<ProxyMeshOptions>>().Value.Admin, app.Logger);
        // The guard is a singleton called directly: as a factory-activated middleware it would be resolved from each
        // request's service scope, creating that scope for every proxied request.
        var adminAccess = app.Services.GetRequiredService<AdminAccessMiddleware>();
        app.Use(next => context => adminAccess.InvokeAsync(context, next));
        app.MapAdminEndpoints();
        app.MapGrpcService<AdminHealthService>().WithMetadata(ListenerBinding.Admin);
        return app;
    }

    /// <summary>The start-up warning for an admin listener reachable from other machines, or null for a loopback one.</summary>
    internal static string? ExposureWarning(AdminOptions admin)
    {
        if (!ListenerAddress.TryParse(admin.Url, out var address, out _) || address!.IsLoopback)
        {
            return null;
        }

        var protection = admin.Token is not null || admin.TokenFile is not null
            ? "POST endpoints and /config_dump require the admin bearer token"
            : "NO token is set: anyone who reaches it can drain this sidecar and read its configuration (set ProxyMesh:Admin:Token or TokenFile)";
        return $"The admin listener {admin.Url} is reachable from other machines (ProxyMesh:Admin:AllowNonLoopback); {protection}";
    }

    private static void WarnWhenExposed(AdminOptions admin, ILogger logger)
    {
        if (ExposureWarning(admin) is { } warning)
        {
#pragma warning disable CA1848, CA2254 // Once at start-up.
            logger.LogWarning(warning);
#pragma warning restore CA1848, CA2254
        }
    }
}
