using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Resilience;

/// <summary>
/// Ends a request the proxy refused before reading its body (overload shedding, a circuit breaker, the rate limit).
/// An HTTP/2 request whose body has not ended (a gRPC call whose message has not come yet) gets its whole answer at
/// once, then what the client still sends is read and dropped until the body ends, for at most
/// <see cref="DrainTimeout"/> and <see cref="DrainBytes"/>. Ended without that, Kestrel resets the stream and keeps it
/// for 5 s for the client's frames in flight; over max(2 × MaxConcurrentStreams, 100) such streams on a connection it
/// resets new ones <c>ENHANCE_YOUR_CALM</c>, then closes the connection with every call on it — which at twice the
/// proxy's capacity a client slow to send its messages reaches (bench/soak --mode overload). Read to its end, the
/// stream leaves at once; while it is read it counts against MaxConcurrentStreams, which the client sees and keeps to.
/// </summary>
internal static class UnreadRequestBody
{
    /// <summary>How long the rest of a refused request's body is waited for; Kestrel's own drain is 5 s.</summary>
    internal static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(1);

    /// <summary>How much of a refused request's body is read and dropped: a few gRPC messages, not an upload.</summary>
    internal const long DrainBytes = 64 * 1024;

    /// <summary>Completes at once unless the request is HTTP/2 and its body has not ended.</summary>
    public static ValueTask EndAsync(HttpContext context, TimeProvider time)
    {
        if (!HttpProtocol.IsHttp2(context.Request.Protocol) || context.Features.Get<IHttpRequestBodyDetectionFeature>() is not { CanHaveBody: true })
        {
            return ValueTask.CompletedTask;
        }

        var body = context.Request.BodyReader;
        if (body.TryRead(out var buffered))
        {
            body.AdvanceTo(buffered.Buffer.End);
            if (buffered.IsCompleted)
            {
                return ValueTask.CompletedTask; // the common case: the message came with the HEADERS
            }
        }

        return AnswerThenDrainAsync(context, time);
    }

    private static async ValueTask AnswerThenDrainAsync(HttpContext context, TimeProvider time)
    {
        using var timeout = new CancellationTokenSource(DrainTimeout, time);
        try
        {
            await context.Response.CompleteAsync();
            var body = context.Request.BodyReader;
            for (long drained = 0; drained <= DrainBytes;)
            {
                var result = await body.ReadAsync(timeout.Token);
                drained += result.Buffer.Length;
                body.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or BadHttpRequestException)
        {
            // Too slow, too long, or reset by the client: Kestrel ends the stream as it would have.
        }
    }
}
