using ProxyMesh.Proxy.Resilience.Timeouts;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// The router's part in each attempt's request and response, for every route:
/// <list type="bullet">
/// <item>gRPC requests go upstream with <c>te: trailers</c> (C-core and Java servers require it; browsers never send it)
/// and, when the call has a deadline, the time REMAINING of it in <c>grpc-timeout</c>;</item>
/// <item>at response headers the attempt records the upstream status (and the <c>grpc-status</c> of a trailers-only
/// answer) and decides whether a retry will replace the response: only then is its body suppressed;</item>
/// <item>a streaming response (gRPC with a body to come, <c>text/event-stream</c>) sends its headers to the client at
/// once, so a caller that waits for them before sending does not hang. A trailers-only gRPC answer is left alone:
/// it reaches the client as one HEADERS frame that ends the stream.</item>
/// </list>
/// </summary>
internal sealed class AttemptTransformProvider(TimeProvider time) : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        context.AddRequestTransform(transform =>
        {
            if (transform.HttpContext.Features.Get<UpstreamAttempt>() is { IsGrpc: true } attempt)
            {
                var headers = transform.ProxyRequest.Headers;
                if (!headers.NonValidated.Contains("te"))
                {
                    headers.TryAddWithoutValidation("te", "trailers");
                }

                if (attempt.GrpcDeadline is { } deadline)
                {
                    headers.Remove(GrpcTimeout.Header);
                    headers.TryAddWithoutValidation(GrpcTimeout.Header, GrpcTimeout.Format(time.GetElapsedTime(time.GetTimestamp(), deadline)));
                }
            }

            return ValueTask.CompletedTask;
        });
        context.AddResponseTransform(static transform =>
        {
            if (transform.HttpContext.Features.Get<UpstreamAttempt>() is not { } attempt || transform.ProxyResponse is not { } response)
            {
                return ValueTask.CompletedTask;
            }

            var status = (int)response.StatusCode;
            var grpcStatus = attempt.IsGrpc ? GrpcStatusOf(response) : -1;
            if (attempt.TryHoldForRetry(status, grpcStatus))
            {
                transform.SuppressResponseBody = true;
                return ValueTask.CompletedTask;
            }

            // A flush, not just StartAsync: Kestrel sends the headers of a started response with its first write or flush.
            return IsStreaming(attempt, response, status, grpcStatus) ? new ValueTask(transform.HttpContext.Response.Body.FlushAsync()) : ValueTask.CompletedTask;
        });
    }

    private static bool IsStreaming(UpstreamAttempt attempt, HttpResponseMessage response, int status, int grpcStatus)
    {
        if (attempt.IsGrpc)
        {
            return status == StatusCodes.Status200OK && grpcStatus < 0;
        }

        return response.Content.Headers.NonValidated.TryGetValues("Content-Type", out var type)
            && type.ToString().StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The grpc-status of a trailers-only response (sent in the headers), or -1.</summary>
    private static int GrpcStatusOf(HttpResponseMessage response) =>
        response.Headers.NonValidated.TryGetValues("grpc-status", out var values)
        && int.TryParse(values.ToString(), System.Globalization.CultureInfo.InvariantCulture, out var status)
            ? status
            : -1;
}
