using System.Net.Sockets;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>Which of the router's own timers cut an attempt short.</summary>
internal enum ExpiredTimer : byte
{
    None,
    PerTry,

    /// <summary>The route timeout, or the gRPC deadline that replaces it.</summary>
    Route,
}

/// <summary>What is known about an attempt when it ends: the input of <see cref="AttemptClassifier.Classify"/>.</summary>
/// <param name="Error">YARP's forwarding error, <see cref="ForwarderError.None"/> when the exchange completed.</param>
/// <param name="UpstreamStatusCode">The upstream's response status, 0 when no response headers arrived.</param>
/// <param name="GrpcStatus">The <c>grpc-status</c> of a trailers-only gRPC response, -1 otherwise.</param>
/// <param name="ClientGone">The downstream client went away before any timer of the router expired.</param>
internal readonly record struct AttemptFacts(
    ForwarderError Error, Exception? Exception, int UpstreamStatusCode, int GrpcStatus, bool ClientGone, ExpiredTimer Expired);

/// <summary>
/// Classifies an ended upstream attempt into its one <see cref="AttemptOutcome"/>: the only place that interprets
/// forwarding errors, exceptions, timers and statuses. Retries, outlier detection, stats, the access log and tracing
/// all read the result. A pure function, tested on synthetic facts.
/// </summary>
internal static class AttemptClassifier
{
    public static AttemptOutcome Classify(in AttemptFacts facts)
    {
        var headers = facts.UpstreamStatusCode > 0;
        if (facts.Error == ForwarderError.None)
        {
            return headers ? ByStatus(EffectiveStatus(facts.UpstreamStatusCode, facts.GrpcStatus)) : AttemptOutcome.ProxyError;
        }

        if (facts.Error == ForwarderError.NoAvailableDestinations)
        {
            return AttemptOutcome.NoHealthyUpstream;
        }

        if (CircuitBreakerOverflowException.IsIn(facts.Exception))
        {
            return AttemptOutcome.Overflow;
        }

        // YARP names the side a body copy failed on; the client abort that YARP itself raises afterwards changes nothing.
        switch (facts.Error)
        {
            case ForwarderError.RequestBodyDestination:
            case ForwarderError.ResponseBodyDestination:
            case ForwarderError.UpgradeRequestDestination:
            case ForwarderError.UpgradeResponseDestination:
                // YARP blames the upstream for an activity timeout that expires while a body is copied (its StreamCopier
                // reports an input error): a cancelled copy is the stream idle timeout, not the upstream breaking off.
                // The router's own timers cancel through the linked token, which YARP reports as a cancelled copy.
                // The trailer guard reports trailers it refused as a failed read of the upstream's response.
                return IsCancellation(facts.Exception) ? AttemptOutcome.StreamIdleTimeout
                    : facts.Exception is UpstreamProtocolException ? AttemptOutcome.ProtocolError
                    : headers ? AttemptOutcome.ResetAfterHeaders
                    : AttemptOutcome.Reset;
            case ForwarderError.RequestBodyClient:
            case ForwarderError.ResponseBodyClient:
            case ForwarderError.UpgradeRequestClient:
            case ForwarderError.UpgradeResponseClient:
                return AttemptOutcome.ClientCancelled;
        }

        if (facts.ClientGone)
        {
            return AttemptOutcome.ClientCancelled;
        }

        if (facts.Expired != ExpiredTimer.None)
        {
            return headers ? AttemptOutcome.TimeoutAfterHeaders
                : facts.Expired == ExpiredTimer.PerTry ? AttemptOutcome.PerTryTimeout
                : AttemptOutcome.Timeout;
        }

        switch (facts.Error)
        {
            case ForwarderError.Request:
            case ForwarderError.ResponseHeaders:
                return UpstreamProtocolException.IsIn(facts.Exception) ? AttemptOutcome.ProtocolError
                    : IsConnectTimeout(facts.Exception) ? AttemptOutcome.ConnectTimeout
                    : IsConnectFailure(facts.Exception) ? AttemptOutcome.ConnectFailure
                    : IsRefusedStream(facts.Exception) ? AttemptOutcome.RefusedStream
                    : AttemptOutcome.Reset;
            case ForwarderError.RequestTimedOut:
            case ForwarderError.UpgradeActivityTimeout:
            case ForwarderError.RequestCanceled:
            case ForwarderError.RequestBodyCanceled:
            case ForwarderError.ResponseBodyCanceled:
            case ForwarderError.UpgradeRequestCanceled:
            case ForwarderError.UpgradeResponseCanceled:
                // Neither the client nor a timer of the router: YARP's activity timeout, which is the stream idle timeout.
                return AttemptOutcome.StreamIdleTimeout;
            default:
                return AttemptOutcome.ProxyError;
        }
    }

    /// <summary>
    /// The HTTP status that stands for a response: a trailers-only gRPC status mapped as Envoy maps it
    /// (<c>Grpc::Utility::grpcToHttpStatus</c>: UNAVAILABLE is 503, DEADLINE_EXCEEDED 504, INTERNAL 500 …), else the status.
    /// </summary>
    public static int EffectiveStatus(int statusCode, int grpcStatus) =>
        statusCode != StatusCodes.Status200OK || grpcStatus < 0 ? statusCode : grpcStatus switch
        {
            0 => 200,
            1 => 499,
            3 or 9 or 11 => 400,
            4 => 504,
            5 => 404,
            6 or 10 => 409,
            7 => 403,
            8 => 429,
            12 => 501,
            14 => 503,
            16 => 401,
            _ => 500, // UNKNOWN, INTERNAL, DATA_LOSS and codes gRPC does not define.
        };

    private static AttemptOutcome ByStatus(int status) => status switch
    {
        502 or 503 or 504 => AttemptOutcome.UpstreamGatewayError,
        >= 500 => AttemptOutcome.UpstreamError,
        _ => AttemptOutcome.Success,
    };

    private static bool IsConnectFailure(Exception? exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError }
        || exception?.InnerException is SocketException;

    private static bool IsConnectTimeout(Exception? exception)
    {
        if (!IsConnectFailure(exception))
        {
            return false;
        }

        for (var inner = exception!.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is TimeoutException)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsCancellation(Exception? exception) =>
        exception is OperationCanceledException || exception?.InnerException is OperationCanceledException;

    /// <summary>
    /// REFUSED_STREAM (0x7): the upstream did not process the request. SocketsHttpHandler resends a refused request
    /// itself; for one with a body that resend fails at once, because the body is a stream YARP copies only once (an
    /// <see cref="InvalidOperationException"/> under the <see cref="HttpRequestException"/>). Only the handler ever sends
    /// a request twice, and only one the upstream did not process (refused stream, connection closed before the
    /// request was sent), so that failure means the same.
    /// </summary>
    private static bool IsRefusedStream(Exception? exception) =>
        (exception as HttpProtocolException ?? exception?.InnerException as HttpProtocolException)?.ErrorCode == 0x7
        || exception is HttpRequestException { InnerException: InvalidOperationException };
}
