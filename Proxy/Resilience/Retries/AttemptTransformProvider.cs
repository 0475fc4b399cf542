using System.Net;
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
/// <item>a streaming response (gRPC with a body to come, <c>text/event-stream</c>) sends its headers to the client
/// before the upstream's first data, so a caller that waits for them before sending does not hang; over HTTP/2 only
/// when that data is not there yet (it usually is: then headers and data leave together). A trailers-only gRPC answer
/// is left alone: it reaches the client as one HEADERS frame that ends the stream.</item>
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

            if (!IsStreaming(attempt, response, status, grpcStatus))
            {
                return ValueTask.CompletedTask;
            }

            return response.Version == HttpVersion.Version20
                ? SendHeadersUnlessBodyIsReadyAsync(transform, response)
                : new ValueTask(transform.HttpContext.Response.Body.FlushAsync());
        });
    }

    /// <summary>
    /// Sends the headers at once only when the upstream has no body data yet. Most gRPC answers (every unary one) come
    /// as headers, data and trailers together: the data is already buffered, and flushing the headers on their own
    /// would cost a HEADERS frame, an output flush and a send of its own per call. The check is a zero-byte read, which
    /// HttpClient's HTTP/2 response stream completes at once when data is buffered (or the stream has ended) and
    /// otherwise holds until data arrives; while it waits, the headers go to the client (a flush, not just StartAsync:
    /// Kestrel sends the headers of a started response with its first write or flush). Once the read completes, YARP's
    /// copy starts on the same stream; a failed read is left for that copy to report as usual.
    /// </summary>
    private static ValueTask SendHeadersUnlessBodyIsReadyAsync(ResponseTransformContext transform, HttpResponseMessage response)
    {
        // HttpClient hands out (and HttpContent caches, for YARP's copy to get again) the stream of an HTTP/2 answer at once.
        var body = response.Content.ReadAsStreamAsync(transform.CancellationToken);
        if (!body.IsCompletedSuccessfully)
        {
            return new ValueTask(transform.HttpContext.Response.Body.FlushAsync());
        }

        var firstData = body.Result.ReadAsync(Memory<byte>.Empty, transform.CancellationToken);
        if (!firstData.IsCompleted)
        {
            return SendHeadersThenWaitAsync(transform, firstData);
        }

        try
        {
            firstData.GetAwaiter().GetResult(); // Consumed, so that the stream's read can be issued again.
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            // The copy that follows reads the same stream and reports the failure.
        }

        return default;
    }

    private static async ValueTask SendHeadersThenWaitAsync(ResponseTransformContext transform, ValueTask<int> firstData)
    {
        try
        {
            await transform.HttpContext.Response.Body.FlushAsync();
        }
        finally
        {
            try
            {
                await firstData;
            }
            catch (Exception e) when (IsReadFailure(e))
            {
                // The copy that follows reads the same stream and reports the failure.
            }
        }
    }

    private static bool IsReadFailure(Exception e) => e is IOException or HttpRequestException or OperationCanceledException;

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
