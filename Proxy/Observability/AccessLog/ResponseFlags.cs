using System.Net.Sockets;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>Envoy's response flags: why a request did not get an ordinary upstream response.</summary>
internal static class ResponseFlags
{
    public const string None = "-";

    /// <returns>Comma-separated flags (<c>UH</c>, <c>UF</c>, <c>UT</c>, <c>UC</c>, <c>UR</c>, <c>DC</c>, <c>NR</c>, <c>UO</c>, <c>RL</c>), or <c>-</c>.</returns>
    public static string Of(HttpContext context)
    {
        if (context.Features.Get<ResponseFlagFeature>() is { } local)
        {
            return local.Flag;
        }

        var error = context.GetForwarderErrorFeature();
        if (error is null || error.Error == ForwarderError.None)
        {
            return context.GetEndpoint() is null && context.Response.StatusCode == StatusCodes.Status404NotFound ? "NR"
                : context.RequestAborted.IsCancellationRequested ? "DC"
                : None;
        }

        return error.Error switch
        {
            ForwarderError.NoAvailableDestinations => "UH",
            ForwarderError.RequestTimedOut => "UT",
            ForwarderError.Request when IsConnectFailure(error.Exception) => "UF",

            // The upstream connection ended mid-response (Envoy's upstream connection termination).
            ForwarderError.ResponseBodyDestination => "UC",
            ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
                or ForwarderError.ResponseBodyClient or ForwarderError.ResponseBodyCanceled
                or ForwarderError.UpgradeRequestClient or ForwarderError.UpgradeResponseClient => "DC",
            _ => "UR",
        };
    }

    private static bool IsConnectFailure(Exception? exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError }
        || exception?.InnerException is SocketException;
}

/// <summary>Set by the proxy's own local replies: the flag that explains them.</summary>
internal sealed class ResponseFlagFeature(string flag)
{
    /// <summary><c>UO</c>: upstream overflow, a circuit breaker refused the request.</summary>
    public static readonly ResponseFlagFeature UpstreamOverflow = new("UO");

    /// <summary><c>RL</c>: the local rate limit refused the request.</summary>
    public static readonly ResponseFlagFeature RateLimited = new("RL");

    /// <summary><c>UH</c>: no healthy upstream host.</summary>
    public static readonly ResponseFlagFeature NoHealthyUpstream = new("UH");

    public string Flag { get; } = flag;
}
