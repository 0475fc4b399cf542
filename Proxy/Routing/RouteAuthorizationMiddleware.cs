using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace ProxyMesh.Proxy.Routing;

/// <summary>
/// ASP.NET Core's authorization step, only for endpoints that ask for authorization (a YARP route's
/// <c>AuthorizationPolicy</c>, or any endpoint with authorization metadata). YARP registers authorization, so
/// <see cref="WebApplication"/> would otherwise run <see cref="AuthorizationMiddleware"/> for every request, and it
/// allocates an items dictionary and an async frame each time (about 350 B) even when no policy applies. Without a
/// fallback policy an endpoint without metadata is not authorized at all, so skipping it changes nothing; with one (or
/// a custom policy provider, which may make one up) every request goes through the framework's step as before.
/// </summary>
internal sealed class RouteAuthorizationMiddleware
{
    private readonly RequestDelegate _next;
    private readonly AuthorizationMiddleware _authorization;
    private readonly bool _everyRequest;

    public RouteAuthorizationMiddleware(RequestDelegate next, IServiceProvider services)
    {
        _next = next;
        _authorization = ActivatorUtilities.CreateInstance<AuthorizationMiddleware>(services, next);
        _everyRequest = services.GetRequiredService<IOptions<AuthorizationOptions>>().Value.FallbackPolicy is not null
            || services.GetRequiredService<IAuthorizationPolicyProvider>() is not DefaultAuthorizationPolicyProvider;
    }

    public Task InvokeAsync(HttpContext context) =>
        _everyRequest || AsksForAuthorization(context.GetEndpoint()) ? _authorization.Invoke(context) : _next(context);

    /// <summary>The metadata from which <see cref="AuthorizationMiddleware"/> builds an endpoint's policy.</summary>
    private static bool AsksForAuthorization(Endpoint? endpoint) =>
        endpoint is not null
        && (endpoint.Metadata.GetMetadata<IAuthorizeData>() is not null
            || endpoint.Metadata.GetMetadata<AuthorizationPolicy>() is not null
            || endpoint.Metadata.GetMetadata<IAuthorizationRequirementData>() is not null);
}
