using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// YARP appends the upstream's response headers to the ones already set; an upstream that echoes
/// <c>x-request-id</c> would make it appear twice. After the copy, the response carries exactly the request's id.
/// </summary>
internal sealed class RequestIdTransformProvider : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context) =>
        context.AddResponseTransform(static transform =>
        {
            transform.HttpContext.Response.Headers[RequestId.Header] = transform.HttpContext.TraceIdentifier;
            return ValueTask.CompletedTask;
        });
}
