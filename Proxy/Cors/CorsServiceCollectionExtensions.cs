using Microsoft.AspNetCore.Cors.Infrastructure;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Cors;

public static class CorsServiceCollectionExtensions
{
    /// <summary>
    /// CORS policies from <c>ProxyMesh:Cors</c> for routes that name one in <c>CorsPolicy</c> (YARP's route validation
    /// asks this provider whether a named policy exists).
    /// </summary>
    public static IServiceCollection AddProxyMeshCors(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddCors();
        services.AddSingleton<IConfigurationValidator, CorsConfigValidator>();
        services.AddSingleton<ICorsPolicyProvider>(provider => new CorsPolicies(validatedConfiguration, provider.GetRequiredService<IConfiguration>()));
        return services;
    }

    /// <summary>
    /// ASP.NET Core's CORS middleware: answers preflights for routes with a policy and adds the response headers. It is
    /// called with the singleton policy provider: <c>UseCors()</c> would resolve the provider from each request's service
    /// scope, creating that scope for every proxied request. A request without <c>Origin</c> to an endpoint without CORS
    /// metadata skips it: the middleware would do nothing for it but note in the request's items (a dictionary allocated
    /// per request) that it ran, which only an endpoint with CORS metadata checks.
    /// </summary>
    public static IApplicationBuilder UseProxyMeshCors(this IApplicationBuilder app)
    {
        var services = app.ApplicationServices;
        var policies = services.GetRequiredService<ICorsPolicyProvider>();
        return app.Use(next =>
        {
            var cors = new CorsMiddleware(next, services.GetRequiredService<ICorsService>(), services.GetRequiredService<ILoggerFactory>());
            return context => context.Request.Headers.Origin.Count == 0 && context.GetEndpoint()?.Metadata.GetMetadata<ICorsMetadata>() is null
                ? next(context)
                : cors.Invoke(context, policies);
        });
    }
}
