using System.Runtime.CompilerServices;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Resilience;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Tls;

/// <summary>
/// Route metadata <c>ProxyMesh.AllowedCallers</c>: only callers whose client certificate identity is listed reach the
/// cluster; others get 403 (gRPC: PERMISSION_DENIED), as Envoy's RBAC filter answers, and are counted.
/// </summary>
internal sealed class CallerIdentityMiddleware(RequestDelegate next, CallerIdentityStats stats)
{
    private static readonly LocalReply Denied = new(StatusCodes.Status403Forbidden, 7, "RBAC: access denied", new ResponseFlagFeature("-"));
    private static readonly ConditionalWeakTable<RouteConfig, Rule> Rules = [];

    public Task InvokeAsync(HttpContext context)
    {
        var route = context.GetReverseProxyFeature().Route.Config;
        var rule = Rules.GetValue(route, static route => new Rule(AllowedCallers.Parse(route.Metadata?.GetValueOrDefault(AllowedCallers.RouteMetadataKey))));
        if (rule.Allowed is null || rule.Allowed.Allows(context.Features.Get<PeerIdentityFeature>()?.Identity))
        {
            return next(context);
        }

        stats.Denied(context.Features.Get<ProxyListenerFeature>()?.Name ?? "", route.RouteId).Inc();
        return Denied.WriteAsync(context);
    }

    private sealed record Rule(AllowedCallers? Allowed);
}
