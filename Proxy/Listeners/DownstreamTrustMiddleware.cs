using Microsoft.Extensions.Primitives;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// Envoy's header sanitizing for external requests (use_remote_address: true, the caller not internal), on traffic
/// listeners that do not trust their callers (<see cref="ProxyListenerOptions.TrustDownstream"/>):
/// <list type="bullet">
/// <item>every <c>x-envoy-*</c> header is removed (Envoy removes the ones it acts on; here none from outside may
/// steer routing, retries, timeouts, tracing or claim <c>x-envoy-internal</c>);</item>
/// <item><c>x-request-id</c> is removed, so a new one is generated (Envoy's <c>preserve_external_request_id:
/// false</c>): an outside caller neither picks the ring-hash host nor the access log sampling;</item>
/// <item><c>x-forwarded-*</c> and <c>forwarded</c> are removed and <c>x-forwarded-for</c> is the connection's
/// remote address, so nothing downstream reads a client address or scheme the caller made up.</item>
/// </list>
/// Trusted listeners pass these headers as sent. Costs nothing on trusted listeners, and a scan of the header names
/// (no allocation unless there is something to remove) on untrusted ones.
/// </summary>
internal sealed class DownstreamTrustMiddleware(RequestDelegate next)
{
    private const string EnvoyPrefix = "x-envoy-";
    private const string ForwardedPrefix = "x-forwarded-";

    public Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<ProxyListenerFeature>() is { IsAdmin: false, TrustsDownstream: false })
        {
            Sanitize(context);
        }

        return next(context);
    }

    private static void Sanitize(HttpContext context)
    {
        var headers = context.Request.Headers;
        List<string>? remove = null;
        foreach (var (name, _) in headers)
        {
            if (name.StartsWith(EnvoyPrefix, StringComparison.OrdinalIgnoreCase) || name.StartsWith(ForwardedPrefix, StringComparison.OrdinalIgnoreCase))
            {
                (remove ??= []).Add(name);
            }
        }

        if (remove is not null)
        {
            foreach (var name in remove)
            {
                headers.Remove(name);
            }
        }

        headers.Remove("forwarded");
        headers.Remove("x-request-id");
        if (context.Connection.RemoteIpAddress is { } remote)
        {
            headers["x-forwarded-for"] = new StringValues((remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote).ToString());
        }
    }
}
