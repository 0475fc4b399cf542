using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Listeners;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// Observes each request on the traffic listeners and, when its request id is sampled or it failed, queues one
/// access log entry. Sampled-out successful requests cost a few small objects and no formatting. It runs inside
/// <see cref="ObservabilityMiddleware"/>'s frame: <see cref="Begin"/> before the rest of the pipeline, <see cref="End"/>
/// after it.
/// </summary>
internal sealed class AccessLogRecorder(IOptions<AccessLogOptions> options, AccessLogQueue queue, TimeProvider time)
{
    private readonly bool _enabled = options.Value.Enabled;
    private readonly double _sampleRate = options.Value.SampleRate;

    /// <summary>Starts observing a request: its response body (and request body, when it can have one) are counted.</summary>
    /// <returns>The observation to end, or null when the access log is off or the listener is the admin one.</returns>
    public RequestObservation? Begin(HttpContext context, ProxyListenerFeature listener)
    {
        if (!_enabled || listener.IsAdmin)
        {
            return null;
        }

        var observation = new RequestObservation(context.Features.Get<IHttpResponseBodyFeature>()!, time.GetUtcNow(), Stopwatch.GetTimestamp());
        context.Features.Set<IHttpResponseBodyFeature>(observation);

        // A request that cannot have a body (a GET without Content-Length, an HTTP/2 HEADERS frame that ends the stream)
        // receives 0 bytes: nothing to count.
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != false)
        {
            observation.RequestBody = context.Request.Body;
            context.Request.Body = new CountingRequestBody(observation.RequestBody, observation);
        }

        return observation;
    }

    /// <summary>Restores the bodies and queues the request's entry when it is sampled or failed.</summary>
    public void End(HttpContext context, RequestObservation observation, ProxyListenerFeature listener)
    {
        if (observation.RequestBody is { } requestBody)
        {
            context.Request.Body = requestBody;
        }

        context.Features.Set(observation.ResponseBodyFeature);
        var flags = ResponseFlags.Of(context);
        if (context.Response.StatusCode >= 500 || !ReferenceEquals(flags, ResponseFlags.None) || RequestId.IsSampled(context.TraceIdentifier, _sampleRate))
        {
            queue.Enqueue(Entry(context, observation, flags, listener));
        }
    }

    private AccessLogEntry Entry(HttpContext context, RequestObservation observation, string flags, ProxyListenerFeature listener)
    {
        var request = context.Request;
        var proxy = context.Features.Get<IReverseProxyFeature>();
        var entry = queue.Rent();
        entry.StartTime = observation.StartTime;
        entry.Method = request.Method;
        entry.Path = request.Path.Value + request.QueryString.Value;
        entry.Protocol = request.Protocol;
        entry.ResponseCode = context.Response.StatusCode;
        entry.ResponseFlags = flags;
        entry.BytesReceived = observation.BytesReceived;
        entry.BytesSent = observation.BytesSent;
        entry.DurationMilliseconds = Stopwatch.GetElapsedTime(observation.StartTimestamp).TotalMilliseconds;
        entry.UpstreamServiceTimeMilliseconds = context.Features.Get<IUpstreamAttemptFeature>()?.UpstreamMilliseconds;
        entry.UpstreamHost = proxy?.ProxiedDestination?.Model.Config.Address;
        entry.ForwardedFor = NullIfEmpty(request.Headers["x-forwarded-for"].ToString());
        entry.UserAgent = NullIfEmpty(request.Headers.UserAgent.ToString());
        entry.RequestId = context.TraceIdentifier;
        entry.Authority = request.Host.Value ?? "";
        entry.Listener = listener.Name;
        entry.Route = proxy?.Route.Config.RouteId;
        entry.Cluster = context.Features.Get<UpstreamStats.ClusterSeries>()?.ClusterId;
        return entry;
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
