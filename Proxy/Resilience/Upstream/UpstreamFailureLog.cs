using ProxyMesh.Proxy.Observability;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// Failed upstream attempts in the log: one line per cluster and kind of failure a minute, with the message of the
/// first one, in place of YARP's warning with a stack trace for every failed attempt (its <c>HttpForwarder</c>
/// category is set to errors only), which an upstream outage turned into a line per request. Each attempt's outcome is
/// counted in <c>proxymesh_upstream_rq_total</c> and carried by the access log's response flags, as in Envoy, which
/// logs no line per failed request either.
/// </summary>
internal sealed partial class UpstreamFailureLog(TimeProvider time, ILogger<UpstreamFailureLog> logger)
{
    private readonly ThrottledLog<(string Cluster, AttemptOutcome Outcome)> _throttle = new(time);

    public void Report(string cluster, AttemptOutcome outcome, ForwarderError error, Exception? exception)
    {
        if (IsLogged(outcome) && _throttle.ShouldLog((cluster, outcome)))
        {
            LogFailing(logger, cluster, outcome, error, exception?.GetBaseException().Message ?? "no exception");
        }
    }

    /// <summary>
    /// Failures of the exchange with the host. Not: answers (any status), local replies (overflow, no healthy host:
    /// counted with their flags), a client that went away, and protocol errors, which <see cref="UpstreamProtocolErrors"/>
    /// logs with what was refused.
    /// </summary>
    private static bool IsLogged(AttemptOutcome outcome) => outcome is AttemptOutcome.ConnectFailure or AttemptOutcome.ConnectTimeout
        or AttemptOutcome.RefusedStream or AttemptOutcome.Reset or AttemptOutcome.ResetAfterHeaders or AttemptOutcome.PerTryTimeout
        or AttemptOutcome.Timeout or AttemptOutcome.TimeoutAfterHeaders or AttemptOutcome.StreamIdleTimeout or AttemptOutcome.ProxyError;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster {Cluster}: an upstream attempt failed ({Outcome}, YARP {Error}): {Problem}. Logged at most once a minute per cluster and outcome; every attempt is in proxymesh_upstream_rq_total and the access log's flags.")]
    private static partial void LogFailing(ILogger logger, string cluster, AttemptOutcome outcome, ForwarderError error, string problem);
}
