namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Keeps a caller's well-formed <c>x-request-id</c> or replaces it with a new UUIDv4 (from the <see cref="Random"/> service), forwards it upstream (it stays
/// in the request headers YARP copies), returns it to the caller, and makes it the request's
/// <see cref="HttpContext.TraceIdentifier"/> so that every log line of the request carries it.
/// </summary>
internal sealed class RequestIdMiddleware(RequestDelegate next, Random random)
{
    public Task InvokeAsync(HttpContext context)
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
        return next(context);
    }
}
