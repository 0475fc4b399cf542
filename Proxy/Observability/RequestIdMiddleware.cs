using System.Collections;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Keeps a caller's well-formed <c>x-request-id</c> or replaces it with a new UUIDv4 (from the <see cref="Random"/>
/// service), forwards it upstream (it stays in the request headers YARP copies), returns it to the caller, makes it the
/// request's <see cref="HttpContext.TraceIdentifier"/>, and opens a <c>RequestId</c> log scope so that every log line
/// of the request carries it. The scope is ours, not ASP.NET Core's hosting scope: that one is opened only when the
/// hosting diagnostics logger is enabled, which also starts an <c>Activity</c> per request (and one per upstream call),
/// so ProxyMesh turns that logger off by default.
/// </summary>
internal sealed class RequestIdMiddleware(RequestDelegate next, Random random, ILogger<RequestIdMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        var sent = headers[RequestId.Header];
        string id;
        if (sent.Count == 1 && RequestId.IsWellFormed(sent[0]))
        {
            id = sent[0]!;
        }
        else
        {
            id = RequestId.NewUuid(random);
            headers[RequestId.Header] = id;
        }

        context.TraceIdentifier = id;
        context.Response.Headers[RequestId.Header] = id;
        using (logger.BeginScope(new RequestIdScope(id)))
        {
            await next(context);
        }
    }

    /// <summary>The log scope's one property, <c>RequestId</c>, as the hosting scope names it.</summary>
    private sealed class RequestIdScope(string id) : IReadOnlyList<KeyValuePair<string, object>>
    {
        public int Count => 1;

        public KeyValuePair<string, object> this[int index] =>
            index == 0 ? new("RequestId", id) : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
        {
            yield return this[0];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"RequestId:{id}";
    }
}
