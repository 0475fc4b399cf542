using System.Net;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Listeners;

/// <summary>Ingress and egress keep separate route tables, as Envoy's listeners do; admin stays apart from both.</summary>
public sealed class ListenerBindingTests : IAsyncLifetime
{
    private Backend _local = null!;
    private Backend _orders = null!;
    private Backend _payments = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _local = await Backend.StartEchoAsync("local-app");
        _orders = await Backend.StartEchoAsync("orders");
        _payments = await Backend.StartEchoAsync("payments");
        var config = new ProxyConfig()
            .Cluster("local-app", _local.Address)
            .Cluster("orders", _orders.Address)
            .Cluster("payments", _payments.Address)
            .Route("inbound", "local-app", listeners: "ingress")
            .Route("to-orders", "orders", listeners: "egress", hosts: ["orders"])
            .Route("to-payments", "payments", listeners: "egress", hosts: ["payments"])
            .Route("everywhere", "local-app", path: "/shared/{**rest}");
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await Task.WhenAll(_local.DisposeAsync().AsTask(), _orders.DisposeAsync().AsTask(), _payments.DisposeAsync().AsTask());
    }

    [Fact]
    public async Task Egress_picks_the_cluster_by_host_header()
    {
        using var client = Clients.Http1(_proxy.Egress);
        Assert.Equal("orders", await BackendOf(client, "/v1/items", "orders"));
        Assert.Equal("payments", await BackendOf(client, "/v1/charge", "payments"));
    }

    [Fact]
    public async Task Egress_host_routing_works_over_h2c_too()
    {
        using var client = Clients.H2c(_proxy.Egress);
        Assert.Equal("orders", await BackendOf(client, "/v1/items", "orders"));
    }

    [Fact]
    public async Task Ingress_routes_do_not_serve_on_egress_and_egress_routes_do_not_serve_on_ingress()
    {
        using var egress = Clients.Http1(_proxy.Egress);
        using var ingress = Clients.Http1(_proxy.Ingress);
        Assert.Equal(HttpStatusCode.NotFound, await StatusOf(egress, "/anything", "unknown-service"));
        Assert.Equal("local-app", await BackendOf(ingress, "/anything", "orders"));
    }

    [Fact]
    public async Task A_route_without_binding_serves_on_every_traffic_listener()
    {
        using var egress = Clients.Http1(_proxy.Egress);
        using var ingress = Clients.Http1(_proxy.Ingress);
        Assert.Equal("local-app", await BackendOf(egress, "/shared/x", "somewhere"));
        Assert.Equal("local-app", await BackendOf(ingress, "/shared/x", "somewhere"));
    }

    [Fact]
    public async Task Admin_endpoints_are_not_served_on_traffic_listeners_and_routes_are_not_served_on_admin()
    {
        using var egress = Clients.Http1(_proxy.Egress);
        using var admin = Clients.Http1(_proxy.Admin);
        Assert.Equal(HttpStatusCode.NotFound, await StatusOf(egress, "/config_dump", "unknown-service"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusOf(admin, "/shared/x", "localhost"));
        Assert.Equal(HttpStatusCode.OK, await StatusOf(admin, "/ready", "localhost"));
    }

    private static async Task<string> BackendOf(HttpClient client, string path, string host)
    {
        using var request = client.Request(HttpMethod.Get, path);
        request.Headers.Host = host;
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(client.DefaultRequestVersion, response.Version);
        return response.Headers.GetValues("x-backend").Single();
    }

    private static async Task<HttpStatusCode> StatusOf(HttpClient client, string path, string host)
    {
        using var request = client.Request(HttpMethod.Get, path);
        request.Headers.Host = host;
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }
}
