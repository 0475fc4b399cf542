using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Grpc.Framing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Grpc.Web;

/// <summary>
/// Envoy's grpc_web filter for routes with <c>ProxyMesh.GrpcWeb: true</c>: a gRPC-Web call (binary or base64 text,
/// over HTTP/1.1 or HTTP/2) goes to the upstream as plain gRPC, and the answer comes back as gRPC-Web with its trailers
/// framed in the body. Requests of other types, and routes without the switch, pass untouched. The request's gRPC
/// frames are checked on the way (<see cref="GrpcFraming"/>): a message over the limit, a compressed flag without
/// <c>grpc-encoding</c> or a body that ends inside a message is refused with a gRPC status, never sent on.
/// </summary>
internal sealed partial class GrpcWebMiddleware(RequestDelegate next, GrpcWebStats stats, GrpcFraming framing, ILogger<GrpcWebMiddleware> logger)
{
    public const string RouteSwitch = "ProxyMesh.GrpcWeb";

    private int _loggedMalformed;

    /// <summary>Requests that cannot concern this step (plain gRPC among them) pass straight on, without an async frame of their own.</summary>
    public Task InvokeAsync(HttpContext context) =>
        GrpcWebContentTypes.TryParse(context.Request.ContentType, out var isText, out var grpcContentType)
        && GrpcRouteMetadata.RouteOf(context) is { } route
        && GrpcRouteMetadata.IsEnabled(route.Config.Metadata, RouteSwitch)
            ? BridgeAsync(context, route, isText, grpcContentType)
            : next(context);

    private async Task BridgeAsync(HttpContext context, RouteModel route, bool isText, string grpcContentType)
    {
        var request = context.Request;
        request.ContentType = grpcContentType;
        var originalBody = request.Body;
        Base64RequestStream? decoder = null;
        if (isText)
        {
            request.Headers.ContentLength = null; // decoding shortens the body
            request.Body = decoder = new Base64RequestStream(originalBody);
        }

        var frames = framing.Check(request, request.Body);
        request.Body = frames;

        var bodyFeature = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var trailersFeature = context.Features.Get<IHttpResponseTrailersFeature>();
        var response = new GrpcWebResponse(context, bodyFeature, isText);
        context.Features.Set<IHttpResponseBodyFeature>(response);
        context.Features.Set<IHttpResponseTrailersFeature>(response);
        context.Response.OnStarting(GrpcWebResponse.TranslateHeaders, response);
        try
        {
            await next(context);
            if (decoder is { IsMalformed: true } && !context.Response.HasStarted)
            {
                RejectMalformed(route.Config.ClusterId ?? "", response);
            }
            else if (frames.Failure is { } failure && !context.Response.HasStarted)
            {
                response.Fail(framing.ReportRequest(route.Config.ClusterId ?? "", failure.Problem, failure.Message), failure.Message);
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
            if (decoder is not null)
            {
                await decoder.DisposeAsync();
            }
        }
    }

    private void RejectMalformed(string cluster, GrpcWebResponse response)
    {
        stats.RecordMalformed(cluster);
        if (Interlocked.Exchange(ref _loggedMalformed, 1) == 0)
        {
            LogMalformed(logger, cluster);
        }

        response.Fail(GrpcProtocol.Internal, "grpc-web-text request body is not valid base64");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rejected a grpc-web-text request whose body is not valid base64 (cluster {Cluster}); further ones are only counted in proxymesh_grpc_web_malformed_total.")]
    private static partial void LogMalformed(ILogger logger, string cluster);
}
