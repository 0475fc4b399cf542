using System.Net;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Listeners;

/// <summary>One listener proxies HTTP/1.1 and h2c (prior knowledge) alike, for .NET clients and for curl.</summary>
public sealed class SamePortProxyTests : IAsyncLifetime
{
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartEchoAsync();
        _proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("echo", _backend.Address).Route("all", "echo"));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task Http1_request_is_proxied()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        using var response = await client.PostAsync("/orders?id=7", new StringContent("hello"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal("hello", await response.Content.ReadAsStringAsync());
        Assert.Equal("/orders?id=7", response.Headers.GetValues("x-backend-path").Single());
        Assert.Equal("http", response.Headers.GetValues("x-backend-forwarded-proto").Single());
    }

    [Fact]
    public async Task H2c_request_on_the_same_port_is_proxied_as_http2()
    {
        using var client = Clients.H2c(_proxy.Ingress);
        using var response = await client.PostAsync("/orders", new StringContent("hello over h2c"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("hello over h2c", await response.Content.ReadAsStringAsync());
        Assert.Equal("http", response.Headers.GetValues("x-backend-forwarded-proto").Single());
    }

    [Fact]
    public async Task Curl_plain_and_with_http2_prior_knowledge_both_succeed_on_one_listener()
    {
        var url = new Uri(_proxy.Ingress, "/curl").ToString();
        var http1 = await Curl.RunAsync("--write-out", "%{http_version} %{http_code}", "--data", "a", url);
        var h2c = await Curl.RunAsync("--http2-prior-knowledge", "--write-out", "%{http_version} %{http_code}", "--data", "b", url);
        Assert.Equal((0, "a1.1 200"), http1);
        Assert.Equal((0, "b2 200"), h2c);
    }

    [Fact]
    public async Task The_admin_listener_also_answers_h2c()
    {
        using var client = Clients.H2c(_proxy.Admin);
        using var response = await client.GetAsync("/ready");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
