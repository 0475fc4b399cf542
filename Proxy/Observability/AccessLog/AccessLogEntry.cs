namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>One access log line: Envoy's default fields, plus where the request went in the mesh.</summary>
internal sealed record AccessLogEntry(
    DateTimeOffset StartTime,
    string Method,
    string Path,
    string Protocol,
    int ResponseCode,
    string ResponseFlags,
    long BytesReceived,
    long BytesSent,
    double DurationMilliseconds,
    double? UpstreamServiceTimeMilliseconds,
    string? UpstreamHost,
    string? ForwardedFor,
    string? UserAgent,
    string RequestId,
    string Authority,
    string? Listener,
    string? Route,
    string? Cluster);
