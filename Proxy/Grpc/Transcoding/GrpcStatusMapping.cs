namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>gRPC status codes to HTTP statuses, as Envoy's <c>Grpc::Utility::grpcToHttpStatus</c> maps them.</summary>
internal static class GrpcStatusMapping
{
    public const int Ok = 0;
    public const int InvalidArgument = 3;
    public const int DeadlineExceeded = 4;
    public const int Internal = 13;
    public const int Unavailable = 14;

    public static int ToHttpStatus(int grpcStatus) => grpcStatus switch
    {
        0 => StatusCodes.Status200OK,
        1 => 499, // CANCELLED: client closed request
        2 => StatusCodes.Status500InternalServerError, // UNKNOWN
        3 => StatusCodes.Status400BadRequest, // INVALID_ARGUMENT
        4 => StatusCodes.Status504GatewayTimeout, // DEADLINE_EXCEEDED
        5 => StatusCodes.Status404NotFound, // NOT_FOUND
        6 => StatusCodes.Status409Conflict, // ALREADY_EXISTS
        7 => StatusCodes.Status403Forbidden, // PERMISSION_DENIED
        8 => StatusCodes.Status429TooManyRequests, // RESOURCE_EXHAUSTED
        9 => StatusCodes.Status400BadRequest, // FAILED_PRECONDITION
        10 => StatusCodes.Status409Conflict, // ABORTED
        11 => StatusCodes.Status400BadRequest, // OUT_OF_RANGE
        12 => StatusCodes.Status501NotImplemented, // UNIMPLEMENTED
        13 => StatusCodes.Status500InternalServerError, // INTERNAL
        14 => StatusCodes.Status503ServiceUnavailable, // UNAVAILABLE
        15 => StatusCodes.Status500InternalServerError, // DATA_LOSS
        16 => StatusCodes.Status401Unauthorized, // UNAUTHENTICATED
        _ => StatusCodes.Status500InternalServerError,
    };
}
