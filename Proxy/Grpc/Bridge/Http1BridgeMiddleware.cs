using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Grpc.Framing;

namespace ProxyMesh.Proxy.Grpc.Bridge;

/// <summary>
/// Envoy's grpc_http1_bridge for routes with <c>ProxyMesh.GrpcHttp1Bridge: true</c>: an HTTP/1.1 <c>POST</c> of
/// <c>application/grpc</c> goes to the upstream as HTTP/2 gRPC, and its unary answer is buffered until the trailers
/// arrive, so that <c>grpc-status</c> and <c>grpc-message</c> can be sent as response headers (HTTP 503 unless the
/// status is 0). With <c>ProxyMesh.GrpcHttp1Bridge.UpgradeProtobuf: true</c>, an <c>application/x-protobuf</c> body is
/// framed as one gRPC message and the answer unframed (Envoy's <c>upgrade_protobuf_to_grpc</c>). HTTP/2 callers speak
/// gRPC themselves and pass untouched, as in Envoy. Messages are held to <see cref="GrpcFramingOptions.MaxMessageBytes"/>
/// both ways (the answer is buffered, so it must be bounded): a larger one, a compressed flag without
/// <c>grpc-encoding</c> or a body that ends inside a message is answered with a gRPC status and counted.
/// </summary>
internal sealed class Http1BridgeMiddleware(RequestDelegate next, GrpcFraming framing)
{
    public const string RouteSwitch = "ProxyMesh.GrpcHttp1Bridge";
    public const string UpgradeProtobufSwitch = "ProxyMesh.GrpcHttp1Bridge.UpgradeProtobuf";
    public const string ProtobufContentType = "application/x-protobuf";

    /// <summary>
    /// Requests that cannot concern this step pass straight on, without an async frame of their own: those without a
    /// body type, and every HTTP/2 request (plain gRPC callers).
    /// </summary>
    public Task InvokeAsync(HttpContext context) =>
        context.Request.ContentType is null || (!HttpProtocol.IsHttp11(context.Request.Protocol) && !HttpProtocol.IsHttp10(context.Request.Protocol))
            ? next(context)
            : InvokeCoreAsync(context);

    private async Task InvokeCoreAsync(HttpContext context)
    {
        var request = context.Request;
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

        var cluster = GrpcRouteMetadata.RouteOf(context)?.Config.ClusterId ?? "";
        var originalBody = request.Body;
        var bodyFeature = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var trailersFeature = context.Features.Get<IHttpResponseTrailersFeature>();
        using var response = new BufferedGrpcResponse(context, bodyFeature, unframe: isProtobuf, framing.MaxMessageBytes);
        GrpcFrameCheckingStream? frames = null;
        if (isProtobuf)
        {
            request.ContentType = GrpcProtocol.ContentType;
            var length = request.ContentLength ?? await BufferAsync(request, framing.MaxMessageBytes, context.RequestAborted);
            if (length > framing.MaxMessageBytes)
            {
                var message = $"protobuf body larger than the limit of {framing.MaxMessageBytes} bytes";
                response.Fail(framing.ReportRequest(cluster, GrpcFramingProblem.TooLarge, message), message);
                await response.CompleteAsync();
                return;
            }

            request.Body = new FramedRequestStream(request.Body, length);
            request.ContentLength = length + GrpcProtocol.FrameHeaderLength;
        }
        else
        {
            request.Body = frames = framing.Check(request, originalBody);
        }

        context.Features.Set<IHttpResponseBodyFeature>(response);
        context.Features.Set<IHttpResponseTrailersFeature>(response);
        try
        {
            await next(context);
            if (response.Overflowed)
            {
                var message = $"upstream message larger than the limit of {framing.MaxMessageBytes} bytes";
                response.Fail(framing.ReportResponse(cluster, GrpcFramingProblem.TooLarge, message), message);
            }
            else if (frames?.Failure is { } failure)
            {
                response.Fail(framing.ReportRequest(cluster, failure.Problem, failure.Message), failure.Message);
            }

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

    /// <summary>
    /// A body of unknown length (chunked) is read whole first: the frame header states the message length. Reading stops
    /// one byte past the limit; the length then tells the caller it is too large.
    /// </summary>
    private static async Task<long> BufferAsync(HttpRequest request, int maxMessageBytes, CancellationToken cancellationToken)
    {
        var buffered = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while (buffered.Length <= maxMessageBytes && (read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffered.Write(chunk, 0, read);
        }

        buffered.Position = 0;
        request.Body = buffered;
        return buffered.Length;
    }
}
