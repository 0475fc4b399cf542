using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// Kestrel takes an HTTP/2 request's scheme from the client's <c>:scheme</c>, so an h2c client can claim
/// <c>https</c> on a cleartext connection. A proxy must not believe it (it would forward
/// <c>X-Forwarded-Proto: https</c>): on a connection without TLS the scheme is always <c>http</c>.
/// </summary>
internal sealed class CleartextSchemeMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!ReferenceEquals(context.Request.Scheme, Uri.UriSchemeHttp)
            && context.Request.Scheme != Uri.UriSchemeHttp
            && context.Features.Get<ITlsConnectionFeature>() is null)
        {
            context.Request.Scheme = Uri.UriSchemeHttp;
        }

        return next(context);
    }
}
