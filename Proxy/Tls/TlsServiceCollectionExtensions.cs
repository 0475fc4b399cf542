using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Tls;

public static class TlsServiceCollectionExtensions
{
    /// <summary>
    /// TLS origination per cluster (policy <c>Tls</c>), certificate checks of TLS listeners, and caller identity rules
    /// (<c>ProxyMesh.AllowedCallers</c>) for HTTP routes.
    /// </summary>
    public static IServiceCollection AddProxyMeshTls(this IServiceCollection services)
    {
        services.AddSingleton<UpstreamTls>();
        services.AddSingleton<CallerIdentityStats>();
        services.AddSingleton<IConfigurationValidator, TlsConfigValidator>();
        return services;
    }

    /// <summary>Answers 403 to callers a route's <c>ProxyMesh.AllowedCallers</c> does not list; early in the proxy pipeline.</summary>
    public static IReverseProxyApplicationBuilder UseCallerIdentity(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<CallerIdentityMiddleware>();
        return proxy;
    }
}
