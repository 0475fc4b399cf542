using ProxyMesh.Proxy.Clusters;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.RateLimiting;

/// <summary>
/// Early in the proxy pipeline: takes a token from the request's route or cluster bucket, or answers at once with 429
/// and <c>retry-after</c> (gRPC: RESOURCE_EXHAUSTED), counting <c>rate_limited</c>.
/// </summary>
internal sealed class RateLimitMiddleware(RequestDelegate next, TimeProvider time)
{
    public Task InvokeAsync(HttpContext context)
    {
        var bucket = ClusterContext.Of(context).RateLimitFor(context.GetReverseProxyFeature().Route.Config);
        if (bucket is null || bucket.TryAcquire())
        {
            return next(context);
        }

        bucket.RateLimited.Inc();
        return LocalReply.RateLimited.WriteRefusalAsync(context, time, bucket.RetryAfterSeconds());
    }
}
