using Microsoft.AspNetCore.DataProtection;
using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Grpc.Transcoding;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Tls;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Routing;

public static class RoutingServiceCollectionExtensions
{
    /// <summary>YARP routes and clusters from the validated <c>ReverseProxy</c> section, hot-reloaded.</summary>
    public static IServiceCollection AddProxyMeshRouting(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddReverseProxy().LoadFromConfig(validatedConfiguration.GetSection(ReverseProxyConfigValidator.SectionName));

        // YARP protects session-affinity cookies; a sidecar keeps no key ring on disk, so keys live as long as the process.
        services.AddSingleton<IDataProtectionProvider, DeferredDataProtectionProvider>();
        // YARP's AddDataProtection also starts a service that reads the on-disk key ring at start-up (loading
        // System.Private.Xml, ~3 MB mapped); the provider above never uses that key ring.
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IHostedService)
                && services[i].ImplementationType?.FullName == "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService")
            {
                services.RemoveAt(i);
            }
        }

        services.AddSingleton<IConfigurationValidator, ReverseProxyConfigValidator>();
        services.AddSingleton<IConfigurationValidator, RouteBodyLimitValidator>();
        services.AddSingleton<IConfigChangeListener, ConfigApplyListener>();
        return services;
    }

    /// <summary>
    /// ASP.NET Core's authorization, run only for endpoints with authorization metadata (a route's
    /// <c>AuthorizationPolicy</c>), in the place <see cref="WebApplication"/> would run it for every request: right after
    /// routing, before any other step. Call it first.
    /// </summary>
    public static WebApplication UseRouteAuthorization(this WebApplication app)
    {
        // The key UseAuthorization() sets: WebApplication then adds no authorization step of its own. Were the key ever
        // renamed, the framework's step would run as well (correct, only slower; the allocation test would notice).
        ((IApplicationBuilder)app).Properties[AuthorizationMiddlewareSetKey] = true;
        app.UseMiddleware<RouteAuthorizationMiddleware>();
        return app;
    }

    private const string AuthorizationMiddlewareSetKey = "__AuthorizationMiddlewareSet";

    /// <summary>Maps the proxy routes, each on the listeners its <c>ProxyMesh.Listeners</c> metadata names.</summary>
    public static IEndpointRouteBuilder MapProxyMeshRoutes(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapReverseProxy(proxy =>
            {
                proxy.UseClusterContext();
                proxy.UseCallerIdentity();
                proxy.UseMiddleware<RouteBodyLimitMiddleware>();
                proxy.UseGrpcTranscoding();
                proxy.UseUpstreamSpans();
                proxy.UseLocalRateLimit();
                proxy.UseRouter(); // max_requests; reports each attempt's outcome to outlier detection and upstream stats.
                proxy.UseSessionAffinity();
                proxy.UseHealthyPanic();
                proxy.UseLoadBalancing();
                proxy.UsePassiveHealth();
            })
            .ConfigureEndpoints((endpoint, route) => endpoint.WithMetadata(ListenerBinding.ForRouteMetadata(route.Metadata)))
            .ConfigureEndpoints(GrpcTranscodingServiceCollectionExtensions.AddGrpcTranscodingMetadata);
        return endpoints;
    }
}
