namespace ProxyMesh.Proxy.Grpc.Framing;

/// <summary>What is wrong with a gRPC message stream; each is a <c>reason</c> label and a gRPC status.</summary>
internal enum GrpcFramingProblem
{
    /// <summary>A length prefix above <see cref="GrpcFramingOptions.MaxMessageBytes"/>: RESOURCE_EXHAUSTED, as gRPC servers answer.</summary>
    TooLarge,

    /// <summary>The compressed flag on a call without <c>grpc-encoding</c> (or with <c>identity</c>): INTERNAL, as the gRPC spec says.</summary>
    CompressedWithoutEncoding,

    /// <summary>The body ended inside a message (a partial header, or fewer bytes than the prefix announced): INTERNAL.</summary>
    Truncated,
}

/// <summary>Thrown out of the request body YARP reads, so the upstream call is cancelled before a bad frame is sent on.</summary>
internal sealed class GrpcFramingException(GrpcFramingProblem problem, string message) : IOException(message)
{
    public GrpcFramingProblem Problem { get; } = problem;

    /// <summary>The gRPC status the call is answered with.</summary>
    public int Status => StatusOf(Problem);

    public static int StatusOf(GrpcFramingProblem problem) =>
        problem == GrpcFramingProblem.TooLarge ? GrpcProtocol.ResourceExhausted : GrpcProtocol.Internal;
}
