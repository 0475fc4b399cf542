using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>Proxy pipeline step after load balancing: tells the outlier detector how each upstream attempt went.</summary>
internal sealed class OutlierDetectionMiddleware(RequestDelegate next, OutlierDetector detector)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);

        var proxy = context.GetReverseProxyFeature();
        if (proxy.ProxiedDestination is { } destination && context.GetRouteModel().Cluster is { } cluster)
        {
            var error = context.GetForwarderErrorFeature()?.Error ?? ForwarderError.None;
            detector.Record(cluster, destination, Classify(error, context.Response.StatusCode, context.RequestAborted.IsCancellationRequested));
        }
    }

    /// <summary>Client cancellations and the proxy's own failures never count against a host.</summary>
    public static UpstreamOutcome Classify(ForwarderError error, int statusCode, bool clientAborted)
    {
        switch (error)
        {
            case ForwarderError.None:
                return statusCode switch
                {
                    502 or 503 or 504 => UpstreamOutcome.GatewayFailure,
                    >= 500 and <= 599 => UpstreamOutcome.Error5xx,
                    _ => UpstreamOutcome.Success,
                };
            case ForwarderError.RequestCanceled:
            case ForwarderError.RequestBodyCanceled:
            case ForwarderError.RequestBodyClient:
            case ForwarderError.ResponseBodyCanceled:
            case ForwarderError.ResponseBodyClient:
            case ForwarderError.UpgradeRequestCanceled:
            case ForwarderError.UpgradeRequestClient:
            case ForwarderError.UpgradeResponseCanceled:
            case ForwarderError.UpgradeResponseClient:
            case ForwarderError.UpgradeActivityTimeout:
            case ForwarderError.NoAvailableDestinations:
            case ForwarderError.RequestCreation:
                return UpstreamOutcome.Ignored;
            default:
                // Connection failure, timeout, reset, a broken body from upstream: Envoy maps these local-origin
                // errors to gateway failures. A client that went away meanwhile makes the cause uncertain: not counted.
                return clientAborted ? UpstreamOutcome.Ignored : UpstreamOutcome.GatewayFailure;
        }
    }
}
