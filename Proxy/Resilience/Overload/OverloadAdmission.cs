using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Grpc;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Resilience.Overload;

/// <summary>
/// Sheds requests on traffic listeners while overloaded: a fast 503 with <c>x-envoy-overloaded: true</c> (Envoy's
/// header for requests the overload manager refused), instead of queueing without bound. The admin listener is never
/// shed (it is not asked), so operators can still look and drain. Each request counts, whatever carries it: an HTTP/1.1
/// request, an HTTP/2 stream (h2c or TLS: a connection with many streams takes as many slots), a gRPC or gRPC-Web call,
/// a WebSocket for as long as it is open. A gRPC call is refused as Envoy answers gRPC locally (its
/// <c>sendLocalReply</c> for <c>envoy overloaded</c>): trailers-only, HTTP 200, <c>grpc-status</c> 14 (UNAVAILABLE),
/// which gRPC clients retry, with the same <c>x-envoy-overloaded: true</c>.
/// </summary>
/// <remarks>
/// It is asked first, by the step that observes requests (in that step's async frame: a step of its own cost one per
/// request), so a shed request costs the 503 and a counter, nothing else: no request id, no downstream stats, no access
/// log line. Shedding is logged once a minute with the count instead. With an access log line per shed request, the
/// proxy shed 10k requests/s where it proxied 7.6k/s (wrk, docs/reliability.md), so at twice its capacity the 503s
/// alone needed all its CPU and every answer, accepted or shed, waited seconds (bench/soak --mode overload); without the
/// line it shed 18k/s.
/// </remarks>
internal sealed partial class OverloadAdmission(OverloadManager overload, TimeProvider time, ILogger<OverloadAdmission> logger) : IRequestAdmission
{
    private readonly ThrottledLog<string> _throttle = new(time);

    public bool TryAdmit(HttpContext context)
    {
        if (overload.TryAdmit(out var reason))
        {
            return true;
        }

        Shed(context.Request, context.Response);
        if (_throttle.ShouldLog(reason))
        {
            LogShedding(logger, reason, overload.ShedCount);
        }

        return false;
    }

    public void Release() => overload.Release();

    /// <summary>
    /// An HTTP/2 request shed before its body ended (a gRPC call whose message has not come yet) gets its whole answer
    /// at once, then what the client still sends is read and dropped until the body ends, for at most
    /// <see cref="ShedBodyDrainTimeout"/> and <see cref="ShedBodyDrainBytes"/>. Ended without that, Kestrel resets the
    /// stream and keeps it for 5 s for the client's frames in flight; over max(2 × MaxConcurrentStreams, 100) such
    /// streams on a connection it resets new ones <c>ENHANCE_YOUR_CALM</c>, then closes the connection with every call
    /// on it — which at twice the proxy's capacity a client slow to send its messages reaches (bench/soak --mode
    /// overload). Read to its end, the stream leaves at once; while it is read it counts against MaxConcurrentStreams,
    /// which the client sees and keeps to.
    /// </summary>
    public ValueTask EndShedAsync(HttpContext context)
    {
        if (!HttpProtocol.IsHttp2(context.Request.Protocol) || context.Features.Get<IHttpRequestBodyDetectionFeature>() is not { CanHaveBody: true })
        {
            return ValueTask.CompletedTask;
        }

        var body = context.Request.BodyReader;
        if (body.TryRead(out var buffered))
        {
            body.AdvanceTo(buffered.Buffer.End);
            if (buffered.IsCompleted)
            {
                return ValueTask.CompletedTask; // the common case: the message came with the HEADERS
            }
        }

        return AnswerThenDrainAsync(context);
    }

    private async ValueTask AnswerThenDrainAsync(HttpContext context)
    {
        using var timeout = new CancellationTokenSource(ShedBodyDrainTimeout, time);
        try
        {
            await context.Response.CompleteAsync();
            var body = context.Request.BodyReader;
            for (long drained = 0; drained <= ShedBodyDrainBytes;)
            {
                var result = await body.ReadAsync(timeout.Token);
                drained += result.Buffer.Length;
                body.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or BadHttpRequestException)
        {
            // Too slow, too long, or reset by the client: Kestrel ends the stream as it would have.
        }
    }

    /// <summary>How long a shed request's remaining body is waited for; Kestrel's own drain is 5 s.</summary>
    internal static readonly TimeSpan ShedBodyDrainTimeout = TimeSpan.FromSeconds(1);

    /// <summary>How much of a shed request's remaining body is read and dropped: a few gRPC messages, not an upload.</summary>
    internal const long ShedBodyDrainBytes = 64 * 1024;

    /// <summary>The answer, from constant strings only: at twice the proxy's capacity most requests get it.</summary>
    private static void Shed(HttpRequest request, HttpResponse response)
    {
        response.Headers[OverloadedHeader] = "true";
        if (request.ContentType is { } type && type.StartsWith(GrpcProtocol.ContentType, StringComparison.OrdinalIgnoreCase))
        {
            // application/grpc and application/grpc-web…: the status travels in the headers of a response without a body.
            response.ContentType = GrpcProtocol.ContentType;
            response.Headers[GrpcProtocol.StatusHeader] = UnavailableStatus;
            response.Headers[GrpcProtocol.MessageHeader] = OverloadedMessage;
            return;
        }

        response.StatusCode = StatusCodes.Status503ServiceUnavailable;
    }

    private const string OverloadedHeader = "x-envoy-overloaded";
    private const string UnavailableStatus = "14";
    private const string OverloadedMessage = "envoy overloaded";

    [LoggerMessage(Level = LogLevel.Warning, Message = "Overloaded ({Reason}): shedding new requests with 503; {Shed} shed so far (proxymesh_overload_shed_total)")]
    private static partial void LogShedding(ILogger logger, string reason, long shed);
}
