using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http.Features;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Grpc;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Resilience;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Routing;

/// <summary>
/// Route metadata <c>ProxyMesh.MaxRequestBodySize</c> (bytes): the largest request body the route accepts, in place
/// of Kestrel's server-wide limit (30,000,000 bytes). A declared <c>Content-Length</c> over it is refused at once with
/// 413, before any upstream is chosen; a chunked body is cut off with 413 when it grows past it. gRPC requests are
/// counted here, because YARP lifts Kestrel's limit for them (a gRPC stream may be long-lived): a gRPC body that
/// grows past the limit is cut off and, unless the response has started, answered trailers-only with
/// RESOURCE_EXHAUSTED, as gRPC servers answer a message over their limit.
/// </summary>
internal sealed class RouteBodyLimitMiddleware
{
    public const string MetadataKey = "ProxyMesh.MaxRequestBodySize";

    private readonly RequestDelegate _next;
    private readonly Counter _tooLarge;

    /// <summary>Parsed once per route object (a reload makes new ones, and the old ones are collected).</summary>
    private readonly ConditionalWeakTable<RouteConfig, StrongBox<long?>> _limits = [];

    public RouteBodyLimitMiddleware(RequestDelegate next, CollectorRegistry registry)
    {
        _next = next;
        _tooLarge = Metrics.WithCustomRegistry(registry)
            .CreateCounter("proxymesh_downstream_rq_too_large_total", "Requests refused because their declared body (or a gRPC body as it streamed) exceeded the route's ProxyMesh.MaxRequestBodySize.", "route");
    }

    public Task InvokeAsync(HttpContext context)
    {
        var route = context.GetReverseProxyFeature().Route.Config;
        if (_limits.GetValue(route, static route => new StrongBox<long?>(LimitOf(route))).Value is not { } limit)
        {
            return _next(context);
        }

        if (context.Request.ContentLength > limit)
        {
            _tooLarge.WithLabels(route.RouteId).Inc();
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return Task.CompletedTask;
        }

        if (GrpcProtocol.IsGrpcContentType(context.Request.ContentType))
        {
            return LimitGrpcAsync(context, route.RouteId, limit);
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = limit;
        }

        return _next(context);
    }

    private async Task LimitGrpcAsync(HttpContext context, string routeId, long limit)
    {
        var body = new LimitedRequestBody(context.Request.Body, limit);
        context.Request.Body = body;
        await _next(context);
        if (!body.Exceeded)
        {
            return;
        }

        _tooLarge.WithLabels(routeId).Inc();
        if (!context.Response.HasStarted)
        {
            await new LocalReply(StatusCodes.Status413PayloadTooLarge, GrpcProtocol.ResourceExhausted, $"request body larger than the route's limit of {limit} bytes", ResponseFlagFeature.NoFlag)
                .WriteAsync(context);
        }
    }

    private static long? LimitOf(RouteConfig route) =>
        route.Metadata?.TryGetValue(MetadataKey, out var text) == true && TryParse(text, out var limit) ? limit : null;

    internal static bool TryParse(string? text, out long limit) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit);
}

/// <summary>Validates every route's <c>ProxyMesh.MaxRequestBodySize</c>: a whole number of bytes.</summary>
internal sealed class RouteBodyLimitValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        foreach (var route in candidate.GetSection("ReverseProxy:Routes").GetChildren())
        {
            var value = route.GetSection("Metadata").GetSection(RouteBodyLimitMiddleware.MetadataKey);
            if (value.Value is { } text && !RouteBodyLimitMiddleware.TryParse(text, out _))
            {
                problems.Add($"{value.Path}: '{text}' is not a number of bytes (0 or more)");
            }
        }
    }
}
