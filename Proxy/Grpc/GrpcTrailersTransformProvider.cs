using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Grpc;

/// <summary>
/// On bridging routes, sends <c>te: trailers</c> with every gRPC request the bridges produce: browsers and HTTP/1.1
/// clients never send it, and C-core and Java gRPC servers refuse requests without it.
/// </summary>
internal sealed class GrpcTrailersTransformProvider(string[] routeSwitches) : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        foreach (var key in routeSwitches)
        {
            if (GrpcRouteMetadata.IsEnabled(context.Route.Metadata, key))
            {
                context.AddRequestTransform(static transform =>
                {
                    if (GrpcProtocol.IsGrpcContentType(transform.HttpContext.Request.ContentType))
                    {
                        transform.ProxyRequest.Headers.Remove("TE");
                        transform.ProxyRequest.Headers.TryAddWithoutValidation("TE", "trailers");
                    }

                    return ValueTask.CompletedTask;
                });
                return;
            }
        }
    }
}
