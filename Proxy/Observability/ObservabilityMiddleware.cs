using System.Diagnostics;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability.AccessLog;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// What observes every request, in one async frame (a middleware each would cost a frame each per request):
/// <list type="bullet">
/// <item>admission first (<see cref="IRequestAdmission"/>, the overload manager) on the traffic listeners: a request it
/// sheds is answered at once and observed no further;</item>
/// <item>the request id: a caller's well-formed <c>x-request-id</c> is kept, otherwise replaced with a new UUIDv4 (from
/// the <see cref="Random"/> service); it is forwarded upstream (it stays in the request headers YARP copies), returned
/// to the caller, made the request's <see cref="HttpContext.TraceIdentifier"/>, and entered as the request's
/// <c>RequestId</c> log scope (<see cref="RequestIdLogScope"/>) so that every log line of the request carries it. The
/// scope is ours, not ASP.NET Core's hosting scope: that one is opened only when the hosting diagnostics logger is
/// enabled, which also starts an <c>Activity</c> per request (and one per upstream call), so ProxyMesh turns that
/// logger off by default;</item>
/// <item>downstream stats: every request on a listener counted and timed;</item>
/// <item>the access log (<see cref="AccessLogRecorder"/>) on the traffic listeners.</item>
/// </list>
/// </summary>
internal sealed class ObservabilityMiddleware(
    RequestDelegate next,
    Random random,
    DownstreamStats stats,
    AccessLogRecorder accessLog,
    IRequestAdmission? admission = null)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var listener = context.Features.Get<ProxyListenerFeature>();
        var admitted = admission is not null && listener is { IsAdmin: false };
        if (admitted && !admission!.TryAdmit(context))
        {
            await admission.EndShedAsync(context);
            return;
        }

        try
        {
            // Undone when this async method ends: it must stay async.
            RequestIdLogScope.Enter(AssignRequestId(context));
            if (listener is null)
            {
                await next(context);
                return;
            }

            var series = stats.For(listener.Name);
            series.ActiveRequests.Inc();
            var start = Stopwatch.GetTimestamp();
            var observation = accessLog.Begin(context, listener);
            try
            {
                await next(context);
            }
            finally
            {
                if (observation is not null)
                {
                    accessLog.End(context, observation, listener);
                }

                series.ActiveRequests.Dec();
                series.Time.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
                series.Responses(context.Response.StatusCode).Inc();
            }
        }
        finally
        {
            if (admitted)
            {
                admission!.Release();
            }
        }
    }

    private string AssignRequestId(HttpContext context)
    {
        var headers = context.Request.Headers;
        var sent = headers[RequestId.Header];
        string id;
        if (sent.Count == 1 && RequestId.IsWellFormed(sent[0]))
        {
            id = sent[0]!;
        }
        else
        {
            id = RequestId.NewUuid(random);
            headers[RequestId.Header] = id;
        }

        context.TraceIdentifier = id;
        context.Response.Headers[RequestId.Header] = id;
        return id;
    }
}
