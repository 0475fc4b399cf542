using System.Diagnostics;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Observability;

/// <summary>Counts and times every downstream request on its listener.</summary>
internal sealed class DownstreamStatsMiddleware(RequestDelegate next, DownstreamStats stats)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var listener = context.Features.Get<ProxyListenerFeature>();
        if (listener is null)
        {
            await next(context);
            return;
        }

        var series = stats.For(listener.Name);
        series.ActiveRequests.Inc();
        var start = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            series.ActiveRequests.Dec();
            series.Time.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
            series.Responses(context.Response.StatusCode).Inc();
        }
    }
}
