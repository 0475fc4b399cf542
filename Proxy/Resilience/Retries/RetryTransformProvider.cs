using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// Holds back an upstream response that a retry will replace: its body is not copied, so the downstream response
/// has not started and the router can clear it and try again. gRPC statuses are read from a trailers-only response.
/// </summary>
internal sealed class RetryTransformProvider : ITransformProvider
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
            if (transform.HttpContext.Features.Get<UpstreamAttempt>() is { } attempt
                && transform.ProxyResponse is { } response
                && RetryClassifier.IsRetriableResponse((int)response.StatusCode, GrpcStatusOf(response), attempt.Conditions, attempt.StatusCodes))
            {
                attempt.RetriableResponse = true;
                transform.SuppressResponseBody = attempt.MayRetry;
            }

            return ValueTask.CompletedTask;
        });

    /// <summary>The grpc-status of a trailers-only response (sent in the headers), or -1.</summary>
    private static int GrpcStatusOf(HttpResponseMessage response) =>
        response.Headers.NonValidated.TryGetValues("grpc-status", out var values)
        && int.TryParse(values.ToString(), System.Globalization.CultureInfo.InvariantCulture, out var status)
            ? status
            : -1;
}
