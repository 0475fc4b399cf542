using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability.AccessLog;

namespace ProxyMesh.Proxy.Resilience.Overload;

/// <summary>
/// Sheds requests on traffic listeners while overloaded: a fast 503 with <c>x-envoy-overloaded: true</c> (Envoy's
/// header for requests the overload manager refused) and access log flag <c>OM</c>, instead of queueing without bound.
/// The admin listener is never shed, so operators can still look and drain.
/// </summary>
internal sealed class OverloadMiddleware(RequestDelegate next, OverloadManager overload)
{
    private static readonly ResponseFlagFeature Overloaded = new("OM");

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<ProxyListenerFeature>() is not { IsAdmin: false })
        {
            await next(context);
            return;
        }

        if (!overload.TryAdmit())
        {
            context.Features.Set(Overloaded);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers["x-envoy-overloaded"] = "true";
            return;
        }

        try
        {
            await next(context);
        }
        finally
        {
            overload.Release();
        }
    }
}
