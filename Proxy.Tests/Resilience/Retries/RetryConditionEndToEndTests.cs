using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Proxy.Tests.Grpc;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>
/// Envoy's gRPC retry conditions (<c>cancelled</c>, <c>deadline-exceeded</c>, <c>internal</c>, <c>resource-exhausted</c>,
/// <c>unavailable</c>) on a real trailers-only answer, and <c>x-envoy-retry-on</c> from the local application. The
/// failing host sorts first (FirstAlphabetical), so a retry must go to the other host.
/// </summary>
public sealed class RetryConditionEndToEndTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }
    }

    private async Task<(string Address, Func<int> Requests)> StartAsync(Func<HttpContext, Task> handler, HttpProtocols protocols = HttpProtocols.Http1)
    {
        var requests = 0;
        var backend = await Backend.StartAsync(
            app => app.Run(context =>
            {
                Interlocked.Increment(ref requests);
                return handler(context);
            }),
            protocols);
        _owned.Add(backend);
        return (backend.Address, () => Volatile.Read(ref requests));
    }

    [Theory]
    [InlineData(1, "cancelled", true)]
    [InlineData(4, "deadline-exceeded", true)]
    [InlineData(13, "internal", true)]
    [InlineData(8, "resource-exhausted", true)]
    [InlineData(14, "unavailable", true)]
    [InlineData(13, "unavailable", false)] // a condition names one status, not its neighbours
    [InlineData(3, "cancelled,deadline-exceeded,internal,resource-exhausted,unavailable", false)] // INVALID_ARGUMENT: no condition names it
    public async Task A_grpc_status_is_retried_when_its_condition_is_named(int grpcStatus, string retryOn, bool retried)
    {
        var (failing, failed) = await StartAsync(
            context =>
            {
                context.Response.ContentType = "application/grpc";
                context.Response.Headers["grpc-status"] = grpcStatus.ToString(System.Globalization.CultureInfo.InvariantCulture);
                context.Response.Headers["grpc-message"] = "failing on purpose";
                return Task.CompletedTask;
            },
            HttpProtocols.Http2);
        var echo = await EchoUpstream.StartAsync();
        _owned.Add(echo);
        var config = new ProxyConfig().Cluster("grpc", [failing, echo.Address], http2: true).Route("grpc", "grpc")
            .ClusterPolicy("grpc", "Retry", new JsonObject { ["RetryOn"] = retryOn });
        config.Clusters["grpc"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        var proxy = await RunningProxy.StartAsync(config);
        _owned.Add(proxy);
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        var client = new Echo.EchoClient(channel);

        if (retried)
        {
            Assert.Equal("again", (await client.UnaryAsync(new EchoRequest { Message = "again" })).Message);
            await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"grpc\"", 1);
        }
        else
        {
            var error = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new EchoRequest { Message = "once" }));
            Assert.Equal((StatusCode)grpcStatus, error.StatusCode);
            Assert.Equal("failing on purpose", error.Status.Detail);
            Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"grpc\""));
        }

        Assert.Equal(1, failed());
    }

    [Fact]
    public async Task X_envoy_retry_on_from_the_local_application_retries_what_the_route_would_not()
    {
        var (failing, failed) = await StartAsync(async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await context.Response.WriteAsync("failed");
        });
        var good = await Backend.StartEchoAsync("good");
        _owned.Add(good);
        var config = new ProxyConfig().Cluster("app", [failing, good.Address]).Route("app", "app");
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        var proxy = await RunningProxy.StartAsync(config);
        _owned.Add(proxy);
        using var client = Clients.Http1(proxy.Ingress);

        // By default a 500 is no gateway error: the failure passes through.
        using (var plain = client.Request(HttpMethod.Put, "/work"))
        {
            plain.Content = new StringContent("body");
            using var response = await client.SendAsync(plain);
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        }

        // The application asks for 5xx retries on this request: it reaches the good host, body intact.
        using var asked = client.Request(HttpMethod.Put, "/work");
        asked.Content = new StringContent("body");
        asked.Headers.Add("x-envoy-retry-on", "5xx");
        using var retried = await client.SendAsync(asked);
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        Assert.Equal("good", retried.Headers.GetValues("x-backend").Single());
        Assert.Equal("body", await retried.Content.ReadAsStringAsync());
        Assert.Equal(2, failed());
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"app\"", 1);
    }
}
