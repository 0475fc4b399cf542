using System.Net.Sockets;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>Decides whether an attempt's outcome matches the retry conditions, as Envoy's router does.</summary>
internal static class RetryClassifier
{
    public static bool IsRetriableResponse(int status, int grpcStatus, RetryConditions conditions, int[] statusCodes)
    {
        if ((conditions & RetryConditions.ServerError) != 0 && status >= 500)
        {
            return true;
        }

        if ((conditions & RetryConditions.GatewayError) != 0 && status is 502 or 503 or 504)
        {
            return true;
        }

        if ((conditions & RetryConditions.Retriable4xx) != 0 && status == 409)
        {
            return true;
        }

        if ((conditions & RetryConditions.RetriableStatusCodes) != 0 && Array.IndexOf(statusCodes, status) >= 0)
        {
            return true;
        }

        return grpcStatus switch
        {
            1 => (conditions & RetryConditions.GrpcCancelled) != 0,
            4 => (conditions & RetryConditions.GrpcDeadlineExceeded) != 0,
            8 => (conditions & RetryConditions.GrpcResourceExhausted) != 0,
            13 => (conditions & RetryConditions.GrpcInternal) != 0,
            14 => (conditions & RetryConditions.GrpcUnavailable) != 0,
            _ => false,
        };
    }

    /// <summary>A forwarding error before any response: connect failure, refused stream, or reset.</summary>
    public static bool IsRetriableError(ForwarderError error, Exception? exception, RetryConditions conditions)
    {
        if (error is not (ForwarderError.Request or ForwarderError.ResponseHeaders) || CircuitBreakers.CircuitBreakerOverflowException.IsIn(exception))
        {
            // A circuit breaker's refusal is back-pressure: retrying it would only add load (Envoy does not either).
            return false;
        }

        if (IsConnectFailure(exception))
        {
            return (conditions & (RetryConditions.ConnectFailure | RetryConditions.ServerError | RetryConditions.GatewayError)) != 0;
        }

        if (IsRefusedStream(exception))
        {
            return (conditions & RetryConditions.RefusedStream) != 0;
        }

        return (conditions & (RetryConditions.Reset | RetryConditions.ServerError)) != 0;
    }

    /// <summary>Whether the request surely never reached the upstream application, so that any method may be retried.</summary>
    public static bool NeverReachedUpstream(ForwarderError error, Exception? exception) =>
        error == ForwarderError.Request && (IsConnectFailure(exception) || IsRefusedStream(exception));

    public static bool IsConnectFailure(Exception? exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError }
        || exception?.InnerException is SocketException;

    private static bool IsRefusedStream(Exception? exception) =>
        (exception as HttpProtocolException ?? exception?.InnerException as HttpProtocolException)?.ErrorCode == 0x7;
}
