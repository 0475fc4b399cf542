using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Discovery.Caching;

namespace ProxyMesh.Discovery.Api;

public static class ApiServiceCollectionExtensions
{
    /// <summary>The registry (cached views in front of the store) that the API serves from; time is injectable.</summary>
    public static IServiceCollection AddDiscoveryApi(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ServiceViewCache>();
        return services;
    }

    /// <summary><c>/v1/registration/…</c> and <c>/ready</c> (200 <c>LIVE</c> once started, 503 before and while stopping).</summary>
    public static IEndpointRouteBuilder MapDiscoveryApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapRegistrationEndpoints();
        endpoints.MapGet("/ready", (IHostApplicationLifetime lifetime) =>
            lifetime.ApplicationStopping.IsCancellationRequested ? Results.Text("DRAINING\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : lifetime.ApplicationStarted.IsCancellationRequested ? Results.Text("LIVE\n")
            : Results.Text("PRE_INITIALIZING\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        return endpoints;
    }
}
