using System.Net.Sockets;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Resilience.Retries;
using ProxyMesh.Proxy.Resilience.Upstream;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Tests.Resilience.Upstream;

/// <summary>The one classification of an attempt, and what retries, outlier detection and the access log read from it.</summary>
public sealed class AttemptClassifierTests
{
    private static readonly Exception Refused = new HttpRequestException(HttpRequestError.ConnectionError, "refused", new SocketException((int)SocketError.ConnectionRefused));
    private static readonly Exception ConnectTimedOut = new HttpRequestException(HttpRequestError.ConnectionError, "timed out", new TimeoutException());
    private static readonly Exception Overflow = new HttpRequestException("overflow", new CircuitBreakerOverflowException("app", "max_pending_requests"));
    private static readonly Exception RefusedStream = new HttpRequestException("refused stream", new HttpProtocolException(0x7, "REFUSED_STREAM", null));
    private static readonly Exception RefusedThenResentBody = new HttpRequestException("An error occurred while sending the request.", new InvalidOperationException("Stream was already consumed."));
    private static readonly Exception Broken = new IOException("connection reset");

    private const int None = 0;
    private const int PerTry = 1;
    private const int Route = 2;

    public static TheoryData<ForwarderError, Exception?, int, int, bool, int, AttemptOutcome> Cases => new()
    {
        { ForwarderError.None, null, 200, -1, false, None, AttemptOutcome.Success },
        { ForwarderError.None, null, 404, -1, false, None, AttemptOutcome.Success },
        { ForwarderError.None, null, 500, -1, false, None, AttemptOutcome.UpstreamError },
        { ForwarderError.None, null, 503, -1, false, None, AttemptOutcome.UpstreamGatewayError },
        { ForwarderError.None, null, 200, 14, false, None, AttemptOutcome.UpstreamGatewayError }, // trailers-only UNAVAILABLE
        { ForwarderError.None, null, 200, 13, false, None, AttemptOutcome.UpstreamError }, // INTERNAL
        { ForwarderError.None, null, 200, 5, false, None, AttemptOutcome.Success }, // NOT_FOUND
        { ForwarderError.Request, Refused, 0, -1, false, None, AttemptOutcome.ConnectFailure },
        { ForwarderError.Request, ConnectTimedOut, 0, -1, false, None, AttemptOutcome.ConnectTimeout },
        { ForwarderError.Request, RefusedStream, 0, -1, false, None, AttemptOutcome.RefusedStream },
        { ForwarderError.Request, RefusedThenResentBody, 0, -1, false, None, AttemptOutcome.RefusedStream }, // the handler's own resend of a body
        { ForwarderError.Request, Broken, 0, -1, false, None, AttemptOutcome.Reset },
        { ForwarderError.Request, Overflow, 0, -1, false, None, AttemptOutcome.Overflow },
        { ForwarderError.NoAvailableDestinations, null, 0, -1, false, None, AttemptOutcome.NoHealthyUpstream },
        { ForwarderError.RequestCanceled, null, 0, -1, false, PerTry, AttemptOutcome.PerTryTimeout },
        { ForwarderError.RequestCanceled, null, 0, -1, false, Route, AttemptOutcome.Timeout },
        { ForwarderError.ResponseBodyCanceled, null, 200, -1, false, Route, AttemptOutcome.TimeoutAfterHeaders },
        { ForwarderError.RequestCanceled, null, 0, -1, true, Route, AttemptOutcome.ClientCancelled }, // the client went first
        { ForwarderError.ResponseBodyClient, null, 200, -1, false, None, AttemptOutcome.ClientCancelled },
        { ForwarderError.RequestBodyClient, null, 0, -1, false, None, AttemptOutcome.ClientCancelled },
        { ForwarderError.ResponseBodyDestination, Broken, 200, -1, false, None, AttemptOutcome.ResetAfterHeaders },
        { ForwarderError.ResponseBodyDestination, Broken, 200, -1, true, None, AttemptOutcome.ResetAfterHeaders }, // YARP's own abort of the client follows
        { ForwarderError.ResponseBodyClient, null, 200, -1, true, Route, AttemptOutcome.ClientCancelled },
        { ForwarderError.ResponseBodyDestination, new TaskCanceledException(), 200, -1, false, None, AttemptOutcome.StreamIdleTimeout }, // activity timeout mid-body
        { ForwarderError.ResponseBodyDestination, new UpstreamProtocolException("bad trailer"), 200, -1, false, None, AttemptOutcome.ProtocolError }, // the trailer guard's refusal
        { ForwarderError.RequestBodyDestination, new OperationCanceledException(), 0, -1, false, None, AttemptOutcome.StreamIdleTimeout },
        { ForwarderError.RequestTimedOut, null, 0, -1, false, None, AttemptOutcome.StreamIdleTimeout },
        { ForwarderError.ResponseBodyCanceled, null, 200, -1, false, None, AttemptOutcome.StreamIdleTimeout },
        { ForwarderError.UpgradeActivityTimeout, null, 101, -1, false, None, AttemptOutcome.StreamIdleTimeout },
        { ForwarderError.RequestCreation, null, 0, -1, false, None, AttemptOutcome.ProxyError },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_attempt_has_one_outcome(ForwarderError error, Exception? exception, int status, int grpcStatus, bool clientGone, int expired, AttemptOutcome expected) =>
        Assert.Equal(expected, AttemptClassifier.Classify(new AttemptFacts(error, exception, status, grpcStatus, clientGone, (ExpiredTimer)expired)));

    [Theory]
    [InlineData(AttemptOutcome.Success, UpstreamOutcome.Success, "-")]
    [InlineData(AttemptOutcome.UpstreamError, UpstreamOutcome.Error5xx, "-")]
    [InlineData(AttemptOutcome.UpstreamGatewayError, UpstreamOutcome.GatewayFailure, "-")]
    [InlineData(AttemptOutcome.ConnectFailure, UpstreamOutcome.GatewayFailure, "UF")]
    [InlineData(AttemptOutcome.ConnectTimeout, UpstreamOutcome.GatewayFailure, "UF")]
    [InlineData(AttemptOutcome.RefusedStream, UpstreamOutcome.GatewayFailure, "UR")]
    [InlineData(AttemptOutcome.Reset, UpstreamOutcome.GatewayFailure, "UR")]
    [InlineData(AttemptOutcome.ResetAfterHeaders, UpstreamOutcome.GatewayFailure, "UC")]
    [InlineData(AttemptOutcome.PerTryTimeout, UpstreamOutcome.GatewayFailure, "UT")]
    [InlineData(AttemptOutcome.Timeout, UpstreamOutcome.GatewayFailure, "UT")]
    [InlineData(AttemptOutcome.TimeoutAfterHeaders, UpstreamOutcome.Ignored, "UT")]
    [InlineData(AttemptOutcome.StreamIdleTimeout, UpstreamOutcome.Ignored, "SI")]
    [InlineData(AttemptOutcome.Overflow, UpstreamOutcome.Ignored, "UO")]
    [InlineData(AttemptOutcome.NoHealthyUpstream, UpstreamOutcome.Ignored, "UH")]
    [InlineData(AttemptOutcome.ClientCancelled, UpstreamOutcome.Ignored, "DC")]
    [InlineData(AttemptOutcome.ProxyError, UpstreamOutcome.Ignored, "UR")]
    [InlineData(AttemptOutcome.ProtocolError, UpstreamOutcome.GatewayFailure, "UPE")]
    public void Outlier_detection_and_the_access_log_read_the_outcome(AttemptOutcome outcome, UpstreamOutcome signal, string flag)
    {
        Assert.Equal(signal, OutlierSignal.Of(outcome));
        Assert.Equal(flag, AttemptOutcomes.Flag(outcome));
    }

    [Theory]
    [InlineData(AttemptOutcome.ConnectFailure, "connect-failure", true)]
    [InlineData(AttemptOutcome.ConnectTimeout, "gateway-error", true)]
    [InlineData(AttemptOutcome.RefusedStream, "refused-stream", true)]
    [InlineData(AttemptOutcome.RefusedStream, "gateway-error", false)]
    [InlineData(AttemptOutcome.Reset, "reset", true)]
    [InlineData(AttemptOutcome.Reset, "connect-failure", false)]
    [InlineData(AttemptOutcome.PerTryTimeout, "gateway-error", true)]
    [InlineData(AttemptOutcome.Timeout, "5xx,reset,gateway-error", false)]
    [InlineData(AttemptOutcome.Overflow, "5xx,reset,gateway-error,connect-failure", false)]
    [InlineData(AttemptOutcome.NoHealthyUpstream, "5xx,reset,gateway-error,connect-failure", false)]
    [InlineData(AttemptOutcome.ClientCancelled, "5xx,reset", false)]
    public void Retries_read_the_outcome_and_never_retry_back_pressure(AttemptOutcome outcome, string retryOn, bool retried) =>
        Assert.Equal(retried, RetryClassifier.IsRetriable(outcome, RetryConditionsParser.Parse(retryOn, out _)));
}
