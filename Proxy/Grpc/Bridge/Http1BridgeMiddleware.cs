using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Grpc.Bridge;

/// <summary>
/// Envoy's grpc_http1_bridge for routes with <c>ProxyMesh.GrpcHttp1Bridge: true</c>: an HTTP/1.1 <c>POST</c> of
/// <c>application/grpc</c> goes to the upstream as HTTP/2 gRPC, and its unary answer is buffered until the trailers
/// arrive, so that <c>grpc-status</c> and <c>grpc-message</c> can be sent as response headers (HTTP 503 unless the
/// status is 0). With <c>ProxyMesh.GrpcHttp1Bridge.UpgradeProtobuf: true</c>, an <c>application/x-protobuf</c> body is
/// framed as one gRPC message and the answer unframed (Envoy's <c>upgrade_protobuf_to_grpc</c>). HTTP/2 callers speak
/// gRPC themselves and pass untouched, as in Envoy.
/// </summary>
internal sealed class Http1BridgeMiddleware(RequestDelegate next)
{
    public const string RouteSwitch = "ProxyMesh.GrpcHttp1Bridge";
    public const string UpgradeProtobufSwitch = "ProxyMesh.GrpcHttp1Bridge.UpgradeProtobuf";
    public const string ProtobufContentType = "application/x-protobuf";

    /// <summary>Requests that cannot concern this step pass straight on, without an async frame of their own.</summary>
    public Task InvokeAsync(HttpContext context) => context.Request.ContentType is null ? next(context) : InvokeCoreAsync(context);

    private async Task InvokeCoreAsync(HttpContext context)
    {
        var request = context.Request;
        if (!HttpProtocol.IsHttp11(request.Protocol) && !HttpProtocol.IsHttp10(request.Protocol))
        {
            await next(context);
            return;
        }

        var isGrpc = GrpcProtocol.IsGrpcContentType(request.ContentType);
        var isProtobuf = !isGrpc && IsProtobuf(request.ContentType);
        if ((!isGrpc && !isProtobuf)
            || GrpcRouteMetadata.RouteOf(context)?.Config.Metadata is not { } metadata
            || !GrpcRouteMetadata.IsEnabled(metadata, RouteSwitch)
            || (isProtobuf && !GrpcRouteMetadata.IsEnabled(metadata, UpgradeProtobufSwitch)))
        {
            await next(context);
            return;
        }

        var originalBody = request.Body;
        if (isProtobuf)
        {
            request.ContentType = GrpcProtocol.ContentType;
            var length = request.ContentLength ?? await BufferAsync(request, context.RequestAborted);
            request.Body = new FramedRequestStream(request.Body, length);
            request.ContentLength = length + GrpcProtocol.FrameHeaderLength;
        }

        var bodyFeature = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var trailersFeature = context.Features.Get<IHttpResponseTrailersFeature>();
        using var response = new BufferedGrpcResponse(context, bodyFeature, unframe: isProtobuf);
        context.Features.Set<IHttpResponseBodyFeature>(response);
        context.Features.Set<IHttpResponseTrailersFeature>(response);
        try
        {
            await next(context);
            if (!context.RequestAborted.IsCancellationRequested)
            {
                await response.CompleteAsync();
            }
        }
        finally
        {
            context.Features.Set(bodyFeature);
            context.Features.Set(trailersFeature);
            request.Body = originalBody;
        }
    }

    private static bool IsProtobuf(string? contentType) =>
        contentType is not null
        && contentType.StartsWith(ProtobufContentType, StringComparison.OrdinalIgnoreCase)
        && (contentType.Length == ProtobufContentType.Length || contentType[ProtobufContentType.Length] == ';');

    /// <summary>A body of unknown length (chunked) is read whole first: the frame header states the message length.</summary>
    private static async Task<long> BufferAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var buffered = new MemoryStream();
        await request.Body.CopyToAsync(buffered, cancellationToken);
        buffered.Position = 0;
        request.Body = buffered;
        return buffered.Length;
    }
}
