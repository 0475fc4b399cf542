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
/// <item><c>forwarded</c> and the <c>x-forwarded-*</c> headers other than <c>x-forwarded-for</c> are removed (YARP sets
/// <c>x-forwarded-proto</c>, <c>-host</c> and <c>-prefix</c> from the connection);</item>
/// <item>the connection's remote address is appended to <c>x-forwarded-for</c>, as Envoy does with
/// <c>use_remote_address: true</c> and <c>xff_num_trusted_hops: 0</c> (its docs, <i>x-forwarded-for</i>): the caller's
/// entries are kept, but the last one, the only one an upstream may trust, is the address the proxy saw.</item>
/// </list>
/// Trusted listeners pass these headers as sent: <c>x-forwarded-for</c> untouched, as Envoy leaves it with
/// <c>use_remote_address: false</c> (see <see cref="ForwardedForTransformProvider"/>). Costs nothing on trusted listeners, and a scan of the header names
/// (no allocation unless there is something to remove) on untrusted ones.
/// </summary>
internal sealed class DownstreamTrustMiddleware(RequestDelegate next)
{
    private const string EnvoyPrefix = "x-envoy-";
    private const string ForwardedPrefix = "x-forwarded-";
    private const string ForwardedFor = "x-forwarded-for";

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
            if (name.StartsWith(EnvoyPrefix, StringComparison.OrdinalIgnoreCase)
                || (name.StartsWith(ForwardedPrefix, StringComparison.OrdinalIgnoreCase) && !name.Equals(ForwardedFor, StringComparison.OrdinalIgnoreCase)))
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
            var address = (remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote).ToString();
            var sent = headers[ForwardedFor];
            headers[ForwardedFor] = sent.Count == 0 ? new StringValues(address) : new StringValues($"{string.Join(", ", sent.ToArray())}, {address}");
        }
    }
}
