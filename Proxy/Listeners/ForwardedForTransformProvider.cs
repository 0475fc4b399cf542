using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// YARP's default forwarders, except that <c>x-forwarded-for</c> is forwarded as the request carries it instead of
/// being replaced by the caller's address. <see cref="DownstreamTrustMiddleware"/> has already appended the remote
/// address on untrusted listeners (Envoy's <c>use_remote_address: true</c>); on trusted ones the local application's
/// header passes untouched (Envoy's <c>use_remote_address: false</c>, which never edits it). A route that configures
/// forwarded transforms of its own keeps them.
/// </summary>
internal sealed class ForwardedForTransformProvider : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        if (context.UseDefaultForwarders == false)
        {
            return;
        }

        context.UseDefaultForwarders = false;
        context.AddXForwardedProto();
        context.AddXForwardedHost();
        context.AddXForwardedPrefix();
    }
}
