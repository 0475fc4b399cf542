using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Grpc.Bridge;
using ProxyMesh.Proxy.Grpc.Framing;

namespace ProxyMesh.Proxy.Grpc.Stats;

/// <summary>
/// Records every gRPC call the proxy forwards (content type <c>application/grpc*</c>, as it leaves the bridges) in
/// <see cref="GrpcStats"/>: its status from the trailers or a trailers-only answer's headers (or, when the upstream
/// sent none, mapped from the HTTP status as Envoy does), its messages both ways, and its time. A call the proxy refused
/// for its framing is recorded with the status the caller is answered with.
/// </summary>
internal sealed class GrpcStatsMiddleware(RequestDelegate next, GrpcStats stats)
{
    private const int Cancelled = 1;

    /// <summary>Requests that cannot concern this step pass straight on, without an async frame of their own.</summary>
    public Task InvokeAsync(HttpContext context) => context.Request.ContentType is null ? next(context) : InvokeCoreAsync(context);

    private async Task InvokeCoreAsync(HttpContext context)
    {
        var request = context.Request;
        if (!GrpcProtocol.IsGrpcContentType(request.ContentType) || GrpcRouteMetadata.RouteOf(context) is not { } route)
        {
            await next(context);
            return;
        }

        var series = stats.For(route.Config.ClusterId ?? "", request.Path.Value);
        var start = Stopwatch.GetTimestamp();
        var originalBody = request.Body;
        var requestBody = new CountingRequestStream(originalBody);
        request.Body = requestBody;
        var bodyFeature = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var responseBody = new CountingResponseBody(bodyFeature);
        context.Features.Set<IHttpResponseBodyFeature>(responseBody);
        try
        {
            await next(context);
        }
        finally
        {
            request.Body = originalBody;
            context.Features.Set(bodyFeature);
            series.Record(StatusOf(context, originalBody, bodyFeature), requestBody.Messages, responseBody.Messages, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    private static int StatusOf(HttpContext context, Stream requestBody, IHttpResponseBodyFeature responseBody)
    {
        // The step that read the frames (gRPC-Web, the HTTP/1.1 bridge) answers a refused call with its own status once
        // this step is done, whatever YARP made of the aborted forward.
        if (responseBody is BufferedGrpcResponse { Overflowed: true })
        {
            return GrpcProtocol.ResourceExhausted;
        }

        if (requestBody is GrpcFrameCheckingStream { Failure: { } failure })
        {
            return failure.Status;
        }

        if (context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is { } trailers
            && GrpcProtocol.TryReadStatus(trailers[GrpcProtocol.StatusHeader], out var status))
        {
            return status;
        }

        if (GrpcProtocol.TryReadStatus(context.Response.Headers[GrpcProtocol.StatusHeader], out status))
        {
            return status;
        }

        return context.RequestAborted.IsCancellationRequested ? Cancelled : GrpcProtocol.FromHttpStatus(context.Response.StatusCode);
    }
}
