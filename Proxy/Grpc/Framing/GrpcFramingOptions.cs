namespace ProxyMesh.Proxy.Grpc.Framing;

/// <summary><c>ProxyMesh:Grpc</c>: limits on the gRPC messages the proxy reads itself (gRPC-Web, the HTTP/1.1 bridge).</summary>
public sealed class GrpcFramingOptions
{
    public const string SectionName = "ProxyMesh:Grpc";

    /// <summary>
    /// Largest message, in bytes, a call may carry where the proxy parses gRPC frames; gRPC's own default receive limit
    /// (4 MiB). Plain gRPC routes pass frames through unparsed, as Envoy does, and leave the limit to the upstream.
    /// </summary>
    public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;
}
