using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;

using ProxyMesh.Proxy.Resilience.RateLimiting;

namespace ProxyMesh.Proxy.Resilience;

public static class RateLimitServiceCollectionExtensions
{
    /// <summary>Local rate limiting per cluster and route (<c>RateLimit</c> policy), off until enabled.</summary>
    public static IServiceCollection AddProxyMeshRateLimiting(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<LocalRateLimits>();
        services.AddSingleton<IConfigurationValidator, RateLimitConfigValidator>();
        return services;
    }

    /// <summary>Refuses requests over their route's or cluster's token bucket.</summary>
    public static IReverseProxyApplicationBuilder UseLocalRateLimit(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<RateLimitMiddleware>();
        return proxy;
    }
}
