using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>Whether an attempt's response or outcome matches the retry conditions, as Envoy's router decides.</summary>
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

    /// <summary>
    /// An attempt that ended without a response, by its outcome: connect failures (also under <c>5xx</c> and
    /// <c>gateway-error</c>), refused streams, resets and per-try timeouts (under <c>reset</c> and <c>5xx</c>; a per-try
    /// timeout counts as a 504 too). A circuit breaker's refusal is back-pressure and never retried (Envoy does not
    /// either), nor are local replies, client cancellations, and route timeouts (no time is left).
    /// </summary>
    public static bool IsRetriable(AttemptOutcome outcome, RetryConditions conditions) => outcome switch
    {
        AttemptOutcome.ConnectFailure or AttemptOutcome.ConnectTimeout =>
            (conditions & (RetryConditions.ConnectFailure | RetryConditions.ServerError | RetryConditions.GatewayError)) != 0,
        AttemptOutcome.RefusedStream => (conditions & (RetryConditions.RefusedStream | RetryConditions.ServerError)) != 0,
        AttemptOutcome.Reset => (conditions & (RetryConditions.Reset | RetryConditions.ServerError)) != 0,
        AttemptOutcome.PerTryTimeout =>
            (conditions & (RetryConditions.Reset | RetryConditions.ServerError | RetryConditions.GatewayError)) != 0,
        _ => false,
    };
}
