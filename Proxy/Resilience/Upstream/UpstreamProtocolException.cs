namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>An upstream answer the proxy refuses to relay: it breaks the HTTP protocol (Envoy's upstream protocol error).</summary>
internal sealed class UpstreamProtocolException(string message)
    : HttpRequestException(HttpRequestError.InvalidResponse, message)
{
    /// <summary>
    /// Whether the upstream's answer broke the protocol: refused by <see cref="UpstreamResponseHeaderGuard"/>, or by the
    /// HTTP client itself (<see cref="HttpRequestError.InvalidResponse"/>: a status line or header it cannot parse).
    /// </summary>
    public static bool IsIn(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.InvalidResponse })
            {
                return true;
            }
        }

        return false;
    }
}
