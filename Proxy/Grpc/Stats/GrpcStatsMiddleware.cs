using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Grpc.Stats;

/// <summary>
/// Records every gRPC call the proxy forwards (content type <c>application/grpc*</c>, as it leaves the bridges) in
/// <see cref="GrpcStats"/>: its status from the trailers or a trailers-only answer's headers (or, when the upstream
/// sent none, mapped from the HTTP status as Envoy does), its messages both ways, and its time.
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
            series.Record(StatusOf(context), requestBody.Messages, responseBody.Messages, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    private static int StatusOf(HttpContext context)
    {
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
