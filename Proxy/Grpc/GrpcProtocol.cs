using System.Buffers.Binary;
using Microsoft.Extensions.Primitives;

namespace ProxyMesh.Proxy.Grpc;

/// <summary>The parts of the gRPC over HTTP/2 protocol the bridges share: content types, message framing, statuses.</summary>
internal static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string StatusDetailsHeader = "grpc-status-details-bin";

    /// <summary>A length-prefixed message: one flags byte, then the message length as a big-endian 32-bit integer.</summary>
    public const int FrameHeaderLength = 5;

    /// <summary>gRPC codes are 0 (OK) to 16 (UNAUTHENTICATED).</summary>
    public const int MaxStatusCode = 16;

    public const int Unknown = 2;
    public const int ResourceExhausted = 8;
    public const int Internal = 13;

    /// <summary><c>application/grpc</c>, optionally followed by <c>+proto</c>, <c>+json</c> … or parameters.</summary>
    public static bool IsGrpcContentType(string? contentType) =>
        contentType is not null
        && contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase)
        && (contentType.Length == ContentType.Length || contentType[ContentType.Length] is '+' or ';');

    public static void WriteFrameHeader(Span<byte> destination, byte flags, int length)
    {
        destination[0] = flags;
        BinaryPrimitives.WriteInt32BigEndian(destination[1..], length);
    }

    /// <summary>Reads a numeric <c>grpc-status</c>; codes outside 0–16 read as UNKNOWN, as the gRPC spec tells clients to.</summary>
    public static bool TryReadStatus(StringValues value, out int status)
    {
        status = 0;
        if (value.Count == 0)
        {
            return false;
        }

        if (!int.TryParse(value[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out status)
            || status > MaxStatusCode)
        {
            status = Unknown;
        }

        return true;
    }

    /// <summary>
    /// The gRPC status of an HTTP answer that carries none, as Envoy's <c>Grpc::Utility::httpToGrpcStatus</c> maps it
    /// (and as the gRPC spec's "HTTP to gRPC Status Code Mapping" does).
    /// </summary>
    public static int FromHttpStatus(int httpStatus) => httpStatus switch
    {
        400 => Internal,
        401 => 16, // UNAUTHENTICATED
        403 => 7, // PERMISSION_DENIED
        404 => 12, // UNIMPLEMENTED
        429 or 502 or 503 or 504 => 14, // UNAVAILABLE
        _ => Unknown,
    };
}
