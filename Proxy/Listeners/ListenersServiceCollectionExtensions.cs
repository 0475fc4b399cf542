using Yarp.ReverseProxy.Transforms.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace ProxyMesh.Proxy.Listeners;

public static class ListenersServiceCollectionExtensions
{
    /// <summary>Kestrel endpoints for <c>ProxyMesh:Listeners</c> and <c>ProxyMesh:Admin</c>, and per-listener route tables.</summary>
    public static IServiceCollection AddProxyMeshListeners(this IServiceCollection services)
    {
        services.AddSingleton<BoundListeners>();
        services.AddSingleton<IConfigureOptions<KestrelServerOptions>, KestrelListenerSetup>();
        services.AddSingleton<MatcherPolicy, ListenerBindingMatcherPolicy>();
        services.AddSingleton<ITransformProvider, ForwardedForTransformProvider>();
        return services;
    }

    /// <summary>Envoy's header sanitizing of requests from untrusted callers; first in the pipeline, before request ids.</summary>
    public static IApplicationBuilder UseDownstreamTrust(this IApplicationBuilder app) => app.UseMiddleware<DownstreamTrustMiddleware>();
}
