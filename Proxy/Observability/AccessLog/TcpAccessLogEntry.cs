namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// One access log line per proxied TCP connection, as Envoy's TCP access log: when it started, how long it lasted,
/// bytes each way, the upstream host, and Envoy's response flags (<c>UF</c>, <c>UO</c>, <c>UH</c>, <c>URX</c>, <c>SI</c>
/// idle timeout, <c>DT</c> max duration) with ProxyMesh's termination detail for the other local closes.
/// </summary>
public sealed record TcpAccessLogEntry(
    DateTimeOffset StartTime,
    double DurationMilliseconds,
    long BytesReceived,
    long BytesSent,
    string ResponseFlags,
    string? TerminationDetails,
    string Listener,
    string Cluster,
    string? UpstreamHost,
    string? DownstreamRemoteAddress,
    string? Peer);
