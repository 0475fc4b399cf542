using System.Text;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Observability.AccessLog;

namespace ProxyMesh.Proxy.Resilience;

/// <summary>
/// The proxy's own answer when a resilience policy refuses a request before it reaches an upstream: an HTTP status with
/// a short text body, or for gRPC requests (content-type <c>application/grpc*</c>) a trailers-only response carrying
/// the gRPC status, as Envoy answers. Also marks the request with its access-log response flag.
/// </summary>
internal sealed class LocalReply
{
    private readonly byte[] _body;

    public LocalReply(int statusCode, int grpcStatus, string body, ResponseFlagFeature flag, string? header = null)
    {
        StatusCode = statusCode;
        GrpcStatus = grpcStatus.ToString(System.Globalization.CultureInfo.InvariantCulture);
        GrpcMessage = body;
        _body = Encoding.UTF8.GetBytes(body);
        Flag = flag;
        Header = header;
    }

    /// <summary>503, <c>x-envoy-overloaded: true</c>, gRPC UNAVAILABLE (14): a circuit breaker overflowed (flag <c>UO</c>).</summary>
    public static LocalReply Overloaded { get; } = new(StatusCodes.Status503ServiceUnavailable, 14, "upstream connect error or disconnect/reset before headers. reset reason: overflow", ResponseFlagFeature.UpstreamOverflow, "x-envoy-overloaded");

    /// <summary>429 with <c>retry-after</c>, gRPC RESOURCE_EXHAUSTED (8): the local rate limit refused the request (flag <c>RL</c>).</summary>
    public static LocalReply RateLimited { get; } = new(StatusCodes.Status429TooManyRequests, 8, "local_rate_limited", ResponseFlagFeature.RateLimited);

    /// <summary>503 <c>no healthy upstream</c>, gRPC UNAVAILABLE (14): the cluster had no available host (flag <c>UH</c>).</summary>
    public static LocalReply NoHealthyUpstream { get; } = new(StatusCodes.Status503ServiceUnavailable, 14, "no healthy upstream", ResponseFlagFeature.NoHealthyUpstream);

    /// <summary>504 <c>upstream request timeout</c>, gRPC DEADLINE_EXCEEDED (4): the route timeout or gRPC deadline expired before response headers (flag <c>UT</c>).</summary>
    public static LocalReply UpstreamTimeout { get; } = new(StatusCodes.Status504GatewayTimeout, 4, "upstream request timeout", ResponseFlagFeature.UpstreamTimeout);

    /// <summary>gRPC INTERNAL (13), as gRPC servers answer it: the caller's <c>grpc-timeout</c> is malformed (flag <c>DPE</c>).</summary>
    public static LocalReply MalformedGrpcTimeout { get; } = new(StatusCodes.Status400BadRequest, 13, "malformed grpc-timeout header", ResponseFlagFeature.DownstreamProtocolError);

    public int StatusCode { get; }

    public string GrpcStatus { get; }

    public string GrpcMessage { get; }

    public ResponseFlagFeature Flag { get; }

    /// <summary>A header set to <c>true</c> on the reply, if any.</summary>
    public string? Header { get; }

    /// <summary>Writes the reply, keeping the response's <c>x-request-id</c>; the response must not have started. <paramref name="retryAfterSeconds"/> &gt; 0 adds <c>retry-after</c>.</summary>
    public Task WriteAsync(HttpContext context, int retryAfterSeconds = 0)
    {
        context.Features.Set(Flag);
        var response = context.Response;
        var requestId = response.Headers[RequestId.Header];
        response.Clear();
        if (requestId.Count > 0)
        {
            response.Headers[RequestId.Header] = requestId;
        }

        if (Header is not null)
        {
            response.Headers[Header] = "true";
        }

        if (retryAfterSeconds > 0)
        {
            response.Headers.RetryAfter = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (IsGrpc(context.Request))
        {
            // Trailers-only: the status travels in the headers of a response without a body.
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/grpc";
            response.Headers["grpc-status"] = GrpcStatus;
            response.Headers["grpc-message"] = GrpcMessage;
            return Task.CompletedTask;
        }

        response.StatusCode = StatusCode;
        response.ContentType = "text/plain";
        response.ContentLength = _body.Length;
        // Not the request's lifetime token: under the router it is the attempt's, already cancelled when a deadline is answered.
        return response.Body.WriteAsync(_body, CancellationToken.None).AsTask();
    }

    /// <summary>
    /// Writes the reply to a request refused before its body was read, and ends the request as
    /// <see cref="UnreadRequestBody"/> says: an HTTP/2 request whose body has not ended gets its answer at once, and the
    /// rest of its body is read and dropped, so that Kestrel does not keep the stream and reset the client's next ones.
    /// </summary>
    public async Task WriteRefusalAsync(HttpContext context, TimeProvider time, int retryAfterSeconds = 0)
    {
        await WriteAsync(context, retryAfterSeconds);
        await UnreadRequestBody.EndAsync(context, time);
    }

    private static bool IsGrpc(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);
}
