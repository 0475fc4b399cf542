using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// Where every refused upstream answer is reported, whether its headers or its trailers broke the protocol: counted in
/// <c>proxymesh_upstream_cx_protocol_error_total{cluster}</c> (Envoy's <c>upstream_cx_protocol_error</c>) and logged at
/// most once a minute per cluster.
/// </summary>
internal sealed partial class UpstreamProtocolErrors(UpstreamConnectionStats stats, TimeProvider time, ILogger<UpstreamProtocolErrors> logger)
{
    private readonly ThrottledLog<string> _throttle = new(time);

    /// <param name="answer">What the client got instead: "answered 502", "reset the response".</param>
    public void Report(string cluster, string problem, string answer)
    {
        stats.For(cluster).ProtocolErrors.Inc();
        if (_throttle.ShouldLog(cluster))
        {
            LogRefused(logger, cluster, problem, answer);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster {Cluster} answered with a response that breaks the HTTP protocol ({Problem}); {Answer} (logged at most once a minute per cluster, see proxymesh_upstream_cx_protocol_error_total).")]
    private static partial void LogRefused(ILogger logger, string cluster, string problem, string answer);
}
