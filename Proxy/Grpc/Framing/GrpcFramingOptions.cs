namespace ProxyMesh.Proxy.Grpc.Framing;

/// <summary><c>ProxyMesh:Grpc</c>: limits on the gRPC messages the proxy reads itself (gRPC-Web, the HTTP/1.1 bridge).</summary>
public sealed class GrpcFramingOptions
{
    public const string SectionName = "ProxyMesh:Grpc";

    /// <summary>
    /// Largest message, in bytes, a call may carry where the proxy parses gRPC frames: 64 MiB, the transcoder's bound,
    /// so that upstreams that raised gRPC's own 4 MiB receive limit keep working through the bridges; set 4194304 to
    /// refuse at the proxy what a default gRPC server would refuse. Plain gRPC routes pass frames through unparsed, as
    /// Envoy does, and leave the limit to the upstream.
    /// </summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024 * 1024;
}
