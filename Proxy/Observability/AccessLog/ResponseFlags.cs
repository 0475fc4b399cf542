using System.Net.Sockets;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>Envoy's response flags: why a request did not get an ordinary upstream response.</summary>
internal static class ResponseFlags
{
    public const string None = "-";

    /// <returns>Comma-separated flags (<c>UH</c>, <c>UF</c>, <c>UT</c>, <c>UR</c>, <c>DC</c>, <c>NR</c>), or <c>-</c>.</returns>
    public static string Of(HttpContext context)
    {
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
