using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>
/// YARP's passive health step, for the clusters that configure YARP's own passive checks. Every other cluster has
/// passive health on only so that YARP's load balancing honours outlier ejections (<see cref="OutlierDetectionConfigFilter"/>);
/// its policy does nothing per request (the router reports each attempt's outcome), so the step passes such a request
/// straight on: YARP's step would await the rest of the pipeline in an async frame of its own, per request, to call it.
/// </summary>
internal sealed class PassiveHealthStep(RequestDelegate next, IEnumerable<IPassiveHealthCheckPolicy> policies)
{
    private readonly PassiveHealthCheckMiddleware _yarp = new(next, policies);

    public Task InvokeAsync(HttpContext context) =>
        context.GetReverseProxyFeature().Cluster.Config.HealthCheck?.Passive?.Policy == OutlierEjectionHealthPolicy.PolicyName
            ? next(context)
            : _yarp.Invoke(context);
}
