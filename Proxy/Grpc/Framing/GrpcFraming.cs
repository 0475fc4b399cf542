using System.Globalization;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Prometheus;
using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Grpc.Framing;

/// <summary>
/// The message limit and frame checks of the steps that read gRPC frames themselves (gRPC-Web, the HTTP/1.1 bridge),
/// and where their refusals are reported: <c>proxymesh_grpc_invalid_frame_total{cluster,direction,reason}</c>, and one
/// log line per cluster, reason and minute.
/// </summary>
internal sealed partial class GrpcFraming
{
    private const string EncodingHeader = "grpc-encoding";

    private readonly int _maxMessageBytes;
    private readonly Counter _invalid;
    private readonly ThrottledLog<string> _throttle;
    private readonly ILogger<GrpcFraming> _logger;

    public GrpcFraming(IOptions<GrpcFramingOptions> options, CollectorRegistry registry, TimeProvider time, ILogger<GrpcFraming> logger)
    {
        _maxMessageBytes = options.Value.MaxMessageBytes;
        _invalid = StatsFactory.For(registry).CreateCounter(
            "proxymesh_grpc_invalid_frame_total",
            "gRPC calls refused by the proxy for their framing: a message over ProxyMesh:Grpc:MaxMessageBytes, the compressed flag without grpc-encoding, or a body that ended inside a message.",
            "cluster", "direction", "reason");
        _throttle = new ThrottledLog<string>(time);
        _logger = logger;
    }

    public int MaxMessageBytes => _maxMessageBytes;

    /// <summary>The request body, checked as it is read.</summary>
    public GrpcFrameCheckingStream Check(HttpRequest request, Stream body) =>
        new(body, _maxMessageBytes, IsCompressionNegotiated(request.Headers[EncodingHeader]));

    /// <returns>The gRPC status the call is answered with.</returns>
    public int ReportRequest(string cluster, GrpcFramingProblem problem, string message) => Report(cluster, "request", problem, message);

    /// <returns>The gRPC status the call is answered with.</returns>
    public int ReportResponse(string cluster, GrpcFramingProblem problem, string message) => Report(cluster, "response", problem, message);

    private int Report(string cluster, string direction, GrpcFramingProblem problem, string message)
    {
        var reason = problem switch
        {
            GrpcFramingProblem.TooLarge => "too_large",
            GrpcFramingProblem.CompressedWithoutEncoding => "compressed_without_encoding",
            _ => "truncated",
        };
        _invalid.WithLabels(cluster, direction, reason).Inc();
        if (_throttle.ShouldLog(string.Create(CultureInfo.InvariantCulture, $"{cluster}:{direction}:{reason}")))
        {
            LogRefused(_logger, direction, cluster, message);
        }

        return GrpcFramingException.StatusOf(problem);
    }

    private static bool IsCompressionNegotiated(StringValues encoding) =>
        encoding.Count > 0 && !string.IsNullOrEmpty(encoding[0]) && !string.Equals(encoding[0], "identity", StringComparison.OrdinalIgnoreCase);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a gRPC call whose {Direction} broke gRPC framing (cluster {Cluster}): {Problem}. Logged at most once a minute per cluster and reason; see proxymesh_grpc_invalid_frame_total.")]
    private static partial void LogRefused(ILogger logger, string direction, string cluster, string problem);
}
