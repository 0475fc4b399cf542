using System.Net;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Admin;

/// <summary>
/// Guards every request on the admin listener. A loopback admin listener answers only requests whose <c>Host</c> is a
/// loopback address or <c>localhost</c>, so a web page cannot reach it by DNS rebinding (a name that resolves to
/// 127.0.0.1); a browser's cross-origin request (an <c>Origin</c> other than the admin's own) is refused on any admin
/// listener; and when a token is configured, <c>POST</c> endpoints and <c>/config_dump</c> need it as a bearer token.
/// Traffic listeners are untouched (they never serve admin endpoints).
/// </summary>
internal sealed class AdminAccessMiddleware : IMiddleware, IDisposable
{
    private readonly bool _loopbackAdmin;
    private readonly IDisposable? _subscription;
    private volatile byte[]? _tokenHash;

    public AdminAccessMiddleware(IOptionsMonitor<ProxyMeshOptions> options)
    {
        // The admin address is bound at start-up; the token follows reloads (a rotated secret, a changed file name).
        _loopbackAdmin = ListenerAddress.TryParse(options.CurrentValue.Admin.Url, out var address, out _) && address!.IsLoopback;
        _tokenHash = AdminToken.Resolve(options.CurrentValue.Admin);
        _subscription = options.OnChange(changed => _tokenHash = AdminToken.Resolve(changed.Admin));
    }

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Features.Get<ProxyListenerFeature>() is not { IsAdmin: true })
        {
            return next(context);
        }

        var request = context.Request;
        if (_loopbackAdmin && !IsLoopbackHost(request.Host.Host))
        {
            return Refuse(context, StatusCodes.Status403Forbidden, $"admin: Host '{request.Host}' is not a loopback address\n");
        }

        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !IsSameOrigin(origin, request))
        {
            return Refuse(context, StatusCodes.Status403Forbidden, "admin: cross-origin requests are not allowed\n");
        }

        if (_tokenHash is { } tokenHash && NeedsToken(request) && !AdminToken.Matches(request.Headers.Authorization, tokenHash))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"proxymesh-admin\"";
            return Refuse(context, StatusCodes.Status401Unauthorized, "admin: this endpoint needs the admin bearer token\n");
        }

        return next(context);
    }

    private static bool NeedsToken(HttpRequest request) =>
        !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
        || request.Path.StartsWithSegments("/config_dump", StringComparison.OrdinalIgnoreCase);

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static bool IsSameOrigin(string origin, HttpRequest request) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);

    private static Task Refuse(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain";
        return context.Response.WriteAsync(message);
    }

    public void Dispose() => _subscription?.Dispose();
}
