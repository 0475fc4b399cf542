namespace ProxyMesh.Proxy.Grpc.Web;

/// <summary>The gRPC-Web content types: binary (<c>application/grpc-web</c>, <c>+proto</c> …) and base64 text.</summary>
internal static class GrpcWebContentTypes
{
    public const string Binary = "application/grpc-web";
    public const string Text = "application/grpc-web-text";

    /// <summary>Recognises a gRPC-Web request and names the plain gRPC content type it is forwarded as.</summary>
    /// <param name="grpcContentType"><c>application/grpc</c> plus the caller's <c>+format</c> suffix, if any.</param>
    public static bool TryParse(string? contentType, out bool isText, out string grpcContentType)
    {
        isText = false;
        grpcContentType = GrpcProtocol.ContentType;
        if (contentType is null || !contentType.StartsWith(Binary, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = contentType.AsSpan(Binary.Length);
        if (rest.StartsWith("-text", StringComparison.OrdinalIgnoreCase))
        {
            isText = true;
            rest = rest[5..];
        }

        var parameters = rest.IndexOf(';');
        var suffix = parameters < 0 ? rest : rest[..parameters];
        if (suffix.Length == 0)
        {
            return true;
        }

        if (suffix[0] != '+')
        {
            return false;
        }

        grpcContentType = suffix.Equals("+proto", StringComparison.OrdinalIgnoreCase)
            ? "application/grpc+proto"
            : string.Concat(GrpcProtocol.ContentType, suffix);
        return true;
    }
}
