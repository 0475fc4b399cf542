using ProxyMesh.Discovery.Caching;
using ProxyMesh.Discovery.Configuration;
using ProxyMesh.Discovery.Observability;
using ProxyMesh.Discovery.Registrations;
using ProxyMesh.Discovery.Stores;

namespace ProxyMesh.Discovery.Api;

/// <summary>The SDS v1 REST API of lyft's discovery service, as Envoy's original service discovery polled it.</summary>
internal static partial class RegistrationEndpoints
{
    public static IEndpointRouteBuilder MapRegistrationEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var registration = endpoints.MapGroup("/v1/registration");
        registration.MapGet("/{service}", ListAsync);
        registration.MapPost("/{service}", CheckInAsync);
        registration.MapDelete("/{service}/{ip}/{port}", DeregisterAsync);
        return endpoints;
    }

    private static async Task<IResult> ListAsync(string service, ServiceViewCache cache, DiscoveryOptions options, DiscoveryMetrics metrics)
    {
        try
        {
            RegistrationRules.CheckServiceName(service);
        }
        catch (InvalidCheckInException e)
        {
            return Error(StatusCodes.Status400BadRequest, e.Message);
        }

        var view = await cache.GetAsync(service);
        if (view is null)
        {
            return StoreUnavailable();
        }

        metrics.Read();
        return Results.Json(new ServiceAnswer(service, options.Env, view.Hosts, view.Stale ? true : null), RegistrationJson.Options);
    }

    private static async Task<IResult> CheckInAsync(
        string service, HttpRequest request, ServiceViewCache cache, TimeProvider time, DiscoveryMetrics metrics, ILoggerFactory loggers)
    {
        HostRegistration host;
        try
        {
            RegistrationRules.CheckServiceName(service);
            var body = await ReadBodyAsync(request);
            host = CheckInParser.Parse(request.ContentType, body).At(service, time.GetUtcNow());
        }
        catch (InvalidCheckInException e)
        {
            metrics.CheckInRejected();
            var logger = loggers.CreateLogger(typeof(RegistrationEndpoints));
            var name = RegistrationRules.Truncate(service);
            LogRejected(logger, name, e.Message);
            return Error(StatusCodes.Status400BadRequest, e.Message);
        }

        try
        {
            await cache.CheckInAsync(host, request.HttpContext.RequestAborted);
        }
        catch (RegistrationStoreException)
        {
            return StoreUnavailable();
        }

        metrics.CheckInAccepted();
        return Results.Json(host, RegistrationJson.Options);
    }

    private static async Task<IResult> DeregisterAsync(string service, string ip, string port, HttpContext context, ServiceViewCache cache, DiscoveryMetrics metrics)
    {
        string endpoint;
        try
        {
            RegistrationRules.CheckServiceName(service);
            endpoint = HostRegistration.EndpointOf(RegistrationRules.NormalizeIpAddress(ip), RegistrationRules.ParsePort(port));
        }
        catch (InvalidCheckInException e)
        {
            return Error(StatusCodes.Status400BadRequest, e.Message);
        }

        bool removed;
        try
        {
            removed = await cache.DeregisterAsync(service, endpoint, context.RequestAborted);
        }
        catch (RegistrationStoreException)
        {
            return StoreUnavailable();
        }

        if (!removed)
        {
            return Error(StatusCodes.Status404NotFound, $"no host {endpoint} is registered for service '{service}'");
        }

        metrics.Deregistered();
        return Results.Json(new { service, endpoint, deregistered = true }, RegistrationJson.Options);
    }

    /// <summary>The body, up to <see cref="CheckInParser.MaxBodyBytes"/>; a larger one is refused, not read on.</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request)
    {
        var tooLarge = $"body: larger than the {CheckInParser.MaxBodyBytes} bytes allowed";
        if (request.ContentLength > CheckInParser.MaxBodyBytes)
        {
            throw new InvalidCheckInException(tooLarge);
        }

        var buffer = new byte[CheckInParser.MaxBodyBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await request.Body.ReadAsync(buffer.AsMemory(length), request.HttpContext.RequestAborted)) > 0)
        {
            length += read;
        }

        return length > CheckInParser.MaxBodyBytes
            ? throw new InvalidCheckInException(tooLarge)
            : buffer.AsMemory(0, length);
    }

    private static IResult Error(int statusCode, string reason) =>
        Results.Json(new { error = reason }, RegistrationJson.Options, statusCode: statusCode);

    private static IResult StoreUnavailable() =>
        Error(StatusCodes.Status503ServiceUnavailable, "the registration store is unavailable; try again shortly");

    [LoggerMessage(Level = LogLevel.Information, Message = "Check-in for service {Service} rejected: {Reason}")]
    private static partial void LogRejected(ILogger logger, string service, string reason);
}
