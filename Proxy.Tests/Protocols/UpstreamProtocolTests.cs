using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Protocols;

/// <summary>Downstream and upstream protocols are independent: HTTP/1.1 and h2c bridge both ways.</summary>
public sealed class UpstreamProtocolTests : IAsyncLifetime
{
    private Backend _http1Upstream = null!;
    private Backend _h2cUpstream = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _http1Upstream = await Backend.StartEchoAsync("http1", HttpProtocols.Http1);
        _h2cUpstream = await Backend.StartEchoAsync("h2c", HttpProtocols.Http2);
        var config = new ProxyConfig()
            .Cluster("http1", _http1Upstream.Address)
            .Cluster("h2c", _h2cUpstream.Address, http2: true)
            .Route("to-http1", "http1", path: "/http1/{**rest}")
            .Route("to-h2c", "h2c", path: "/h2c/{**rest}");
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _http1Upstream.DisposeAsync();
        await _h2cUpstream.DisposeAsync();
    }

    [Theory]
    [InlineData("1.1", "/http1/x", "HTTP/1.1")]
    [InlineData("1.1", "/h2c/x", "HTTP/2")]
    [InlineData("2.0", "/http1/x", "HTTP/1.1")]
    [InlineData("2.0", "/h2c/x", "HTTP/2")]
    public async Task Downstream_protocol_is_bridged_to_the_cluster_protocol(string downstream, string path, string upstreamProtocol)
    {
        using var client = downstream == "2.0" ? Clients.H2c(_proxy.Ingress) : Clients.Http1(_proxy.Ingress);
        var body = new string('x', 100_000);
        using var response = await client.PostAsync(path, new StringContent(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Version.Parse(downstream), response.Version);
        Assert.Equal(upstreamProtocol, response.Headers.GetValues("x-backend-protocol").Single());
        Assert.Equal(body, await response.Content.ReadAsStringAsync());
    }
}
