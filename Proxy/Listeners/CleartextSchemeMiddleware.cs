namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// On connections that <see cref="CleartextHttp2Detection"/> found to be h2c, Kestrel accepts any <c>:scheme</c>
/// (AllowAlternateSchemes); the connection is cleartext, so the request's scheme is always <c>http</c>.
/// </summary>
internal sealed class CleartextSchemeMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!ReferenceEquals(context.Request.Scheme, Uri.UriSchemeHttp)
            && context.Request.Scheme != Uri.UriSchemeHttp
            && context.Features.Get<CleartextHttp2Feature>() is not null)
        {
            context.Request.Scheme = Uri.UriSchemeHttp;
        }

        return next(context);
    }
}
