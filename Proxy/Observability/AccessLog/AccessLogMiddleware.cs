using Microsoft.AspNetCore.Http.Features;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Listeners;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// Observes each request on the traffic listeners and, when its request id is sampled or it failed, queues one
/// access log entry. Sampled-out successful requests cost a few small objects and no formatting.
/// </summary>
internal sealed class AccessLogMiddleware(RequestDelegate next, IOptions<AccessLogOptions> options, AccessLogQueue queue, TimeProvider time)
{
    private readonly double _sampleRate = options.Value.SampleRate;

    public async Task InvokeAsync(HttpContext context)
    {
        var listener = context.Features.Get<ProxyListenerFeature>();
        if (listener is null || listener.IsAdmin)
        {
            await next(context);
            return;
        }

        var observation = new RequestObservation { StartTime = time.GetUtcNow(), StartTimestamp = Stopwatch.GetTimestamp() };
        context.Features.Set(observation);
        var request = context.Request;
        var response = context.Response;
        var requestBody = request.Body;
        var responseBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        request.Body = new CountingRequestBody(requestBody, observation);
        context.Features.Set<IHttpResponseBodyFeature>(new CountingResponseBody(responseBody, observation));
        try
        {
            await next(context);
        }
        finally
        {
            request.Body = requestBody;
            context.Features.Set(responseBody);
            var flags = ResponseFlags.Of(context);
            if (response.StatusCode >= 500 || !ReferenceEquals(flags, ResponseFlags.None) || RequestId.IsSampled(context.TraceIdentifier, _sampleRate))
            {
                queue.Enqueue(Entry(context, observation, flags, listener));
            }
        }
    }

    private static AccessLogEntry Entry(HttpContext context, RequestObservation observation, string flags, ProxyListenerFeature listener)
    {
        var request = context.Request;
        var proxy = context.Features.Get<IReverseProxyFeature>();
        return new AccessLogEntry(
            observation.StartTime,
            request.Method,
            request.Path.Value + request.QueryString.Value,
            request.Protocol,
            context.Response.StatusCode,
            flags,
            Interlocked.Read(ref observation.BytesReceived),
            Interlocked.Read(ref observation.BytesSent),
            Stopwatch.GetElapsedTime(observation.StartTimestamp).TotalMilliseconds,
            context.Features.Get<IUpstreamAttemptFeature>()?.UpstreamMilliseconds,
            proxy?.ProxiedDestination?.Model.Config.Address,
            NullIfEmpty(request.Headers["x-forwarded-for"].ToString()),
            NullIfEmpty(request.Headers.UserAgent.ToString()),
            context.TraceIdentifier,
            request.Host.Value ?? "",
            listener.Name,
            proxy?.Route.Config.RouteId,
            context.Features.Get<UpstreamStats.ClusterSeries>()?.ClusterId);
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
