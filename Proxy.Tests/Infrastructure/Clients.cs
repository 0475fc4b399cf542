using System.Net;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Real HTTP clients: HTTP/1.1, and HTTP/2 with prior knowledge (h2c).</summary>
public static class Clients
{
    public static HttpClient Http1(Uri baseAddress) => new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
    {
        BaseAddress = baseAddress,
        DefaultRequestVersion = HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    public static HttpClient H2c(Uri baseAddress) => new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
    {
        BaseAddress = baseAddress,
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    /// <summary>A request message in the client's protocol version (SendAsync ignores the client's defaults).</summary>
    public static HttpRequestMessage Request(this HttpClient client, HttpMethod method, string path) =>
        new(method, path) { Version = client.DefaultRequestVersion, VersionPolicy = client.DefaultVersionPolicy };
}
