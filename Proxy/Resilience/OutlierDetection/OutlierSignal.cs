using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>What an attempt's outcome tells outlier detection about its host (Envoy, without split local-origin errors).</summary>
internal static class OutlierSignal
{
    /// <summary>
    /// Responses count by status; connect failures, resets and timeouts before headers are gateway failures. Local
    /// replies (overflow, no healthy upstream), client cancellations, the proxy's own errors, timeouts after headers
    /// (a long stream, not a sick host) and idle streams never count against a host.
    /// </summary>
    public static UpstreamOutcome Of(AttemptOutcome outcome) => outcome switch
    {
        AttemptOutcome.Success => UpstreamOutcome.Success,
        AttemptOutcome.UpstreamError => UpstreamOutcome.Error5xx,
        AttemptOutcome.UpstreamGatewayError or AttemptOutcome.ConnectFailure or AttemptOutcome.ConnectTimeout
            or AttemptOutcome.RefusedStream or AttemptOutcome.Reset or AttemptOutcome.ResetAfterHeaders
            or AttemptOutcome.PerTryTimeout or AttemptOutcome.Timeout or AttemptOutcome.ProtocolError => UpstreamOutcome.GatewayFailure,
        _ => UpstreamOutcome.Ignored,
    };
}
