using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Discovery;

/// <summary>
/// Discovered hosts reached over TLS: discovery names only <c>ip:port</c>, the cluster's <c>ProxyMesh.Discovery.Scheme</c>
/// makes them <c>https://</c> destinations, and the cluster's <c>Tls:CaPath</c> is the trust their certificates are
/// verified against (a real Kestrel upstream with a certificate from a test CA).
/// </summary>
public sealed class HttpsDiscoveredHostsTests : IAsyncLifetime, IDisposable
{
    private readonly TestCertificates _certificates = new();
    private WebApplication _upstream = null!;
    private ScriptedDiscovery _discovery = null!;

    public async Task InitializeAsync()
    {
        (_upstream, var port) = await TlsBackend.StartAsync(_certificates, app => app.Run(context =>
        {
            context.Response.Headers["x-backend-scheme"] = context.Request.Scheme;
            return context.Response.WriteAsync("secure orders");
        }));
        _discovery = await ScriptedDiscovery.StartAsync();
        _discovery.Answer = service => (200, ScriptedDiscovery.Hosts(service, $"http://127.0.0.1:{port}"));
    }

    public async Task DisposeAsync()
    {
        await _discovery.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    public void Dispose() => _certificates.Dispose();

    private ProxyConfig Config(string caPath)
    {
        var config = new ProxyConfig().DiscoveryCluster("orders", "orders", _discovery.Url, TimeSpan.FromMilliseconds(100)).Route("orders", "orders");
        config.Clusters["orders"]!["Metadata"]!["ProxyMesh.Discovery.Scheme"] = "https";
        config.ClusterPolicies("orders")["Tls"] = new JsonObject { ["CaPath"] = caPath };
        return config;
    }

    [Fact]
    public async Task Discovered_hosts_of_an_https_cluster_are_reached_over_tls_trusted_by_the_clusters_ca()
    {
        await using var proxy = await RunningProxy.StartAsync(Config(_certificates.CaPath));
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_success_total", "cluster=\"orders\"") >= 1,
            "discovery answers");
        using var reached = await client.GetAsync("/orders");
        Assert.Equal(HttpStatusCode.OK, reached.StatusCode);
        Assert.Equal("https", Assert.Single(reached.Headers.GetValues("x-backend-scheme")));
        Assert.Equal("secure orders", await reached.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_discovered_host_whose_certificate_the_clusters_ca_did_not_issue_is_not_trusted()
    {
        using var otherCa = new TestCertificates("Another CA");
        await using var proxy = await RunningProxy.StartAsync(Config(otherCa.CaPath));
        using var client = Clients.Http1(proxy.Ingress);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_success_total", "cluster=\"orders\"") >= 1,
            "discovery answers");
        using var response = await client.GetAsync("/orders");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }
}
