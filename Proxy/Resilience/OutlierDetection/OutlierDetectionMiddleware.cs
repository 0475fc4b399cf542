using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.Resilience.Retries;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>Proxy pipeline step after load balancing: tells the outlier detector how each upstream attempt went.</summary>
internal sealed class OutlierDetectionMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);

        var proxy = context.GetReverseProxyFeature();
        if (proxy.ProxiedDestination is { } destination)
        {
            // Under the router, the request lifetime is the attempt's: aborted by the client or by a route/per-try timeout.
            var aborted = context.RequestAborted.IsCancellationRequested;
            var clientGone = context.Features.Get<UpstreamAttempt>()?.ClientGone ?? aborted;
            var error = context.GetForwarderErrorFeature()?.Error ?? ForwarderError.None;
            ClusterContext.Of(context).RecordOutcome(destination, Classify(error, context.Response.StatusCode, clientGone, aborted && !clientGone));
        }
    }

    /// <summary>Client cancellations and the proxy's own failures never count against a host; timeouts do.</summary>
    public static UpstreamOutcome Classify(ForwarderError error, int statusCode, bool clientGone, bool attemptTimedOut)
    {
        if (error == ForwarderError.None)
        {
            return statusCode switch
            {
                502 or 503 or 504 => UpstreamOutcome.GatewayFailure,
                >= 500 and <= 599 => UpstreamOutcome.Error5xx,
                _ => UpstreamOutcome.Success,
            };
        }

        if (clientGone)
        {
            return UpstreamOutcome.Ignored;
        }

        if (attemptTimedOut)
        {
            return UpstreamOutcome.GatewayFailure; // A route or per-try timeout: Envoy counts it as a gateway failure.
        }

        switch (error)
        {
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
                // errors to gateway failures.
                return UpstreamOutcome.GatewayFailure;
        }
    }
}
