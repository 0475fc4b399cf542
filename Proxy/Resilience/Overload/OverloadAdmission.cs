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

    /// <summary>A shed request is ended as every refusal before its body was read (<see cref="UnreadRequestBody"/>).</summary>
    public ValueTask EndShedAsync(HttpContext context) => UnreadRequestBody.EndAsync(context, time);

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
