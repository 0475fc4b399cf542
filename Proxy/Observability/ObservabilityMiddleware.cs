using System.Collections;
using System.Diagnostics;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability.AccessLog;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// What observes every request, in one async frame (three middlewares cost three per request):
/// <list type="bullet">
/// <item>the request id: a caller's well-formed <c>x-request-id</c> is kept, otherwise replaced with a new UUIDv4 (from
/// the <see cref="Random"/> service); it is forwarded upstream (it stays in the request headers YARP copies), returned
/// to the caller, made the request's <see cref="HttpContext.TraceIdentifier"/>, and opens a <c>RequestId</c> log scope so
/// that every log line of the request carries it. The scope is ours, not ASP.NET Core's hosting scope: that one is
/// opened only when the hosting diagnostics logger is enabled, which also starts an <c>Activity</c> per request (and one
/// per upstream call), so ProxyMesh turns that logger off by default;</item>
/// <item>downstream stats: every request on a listener counted and timed;</item>
/// <item>the access log (<see cref="AccessLogRecorder"/>) on the traffic listeners.</item>
/// </list>
/// </summary>
internal sealed class ObservabilityMiddleware(
    RequestDelegate next,
    Random random,
    ILogger<ObservabilityMiddleware> logger,
    DownstreamStats stats,
    AccessLogRecorder accessLog)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var id = AssignRequestId(context);
        using var scope = logger.BeginScope(new RequestIdScope(id));
        var listener = context.Features.Get<ProxyListenerFeature>();
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

    /// <summary>The log scope's one property, <c>RequestId</c>, as the hosting scope names it.</summary>
    private sealed class RequestIdScope(string id) : IReadOnlyList<KeyValuePair<string, object>>
    {
        public int Count => 1;

        public KeyValuePair<string, object> this[int index] =>
            index == 0 ? new("RequestId", id) : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
        {
            yield return this[0];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"RequestId:{id}";
    }
}
