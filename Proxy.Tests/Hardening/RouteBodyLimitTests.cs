using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>Route metadata <c>ProxyMesh.MaxRequestBodySize</c>: a body over the route's limit gets 413, other routes keep theirs.</summary>
public sealed class RouteBodyLimitTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<string> _upstreamSaw = new();
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            _upstreamSaw.Enqueue($"{context.Request.Path} {body.Length}");
            await context.Response.WriteAsync("ok");
        }));
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("small", "app", path: "/small").Route("app", "app");
        config.Routes["small"]!["Metadata"] = new JsonObject { ["ProxyMesh.MaxRequestBodySize"] = "10" };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    private async Task<HttpStatusCode> PostAsync(string path, int bytes, bool chunked = false)
    {
        using var client = Clients.Http1(_proxy.Ingress);
        using var content = new StringContent(new string('a', bytes));
        if (chunked)
        {
            content.Headers.ContentLength = null;
        }

        using var request = client.Request(HttpMethod.Post, path);
        request.Content = content;
        request.Headers.TransferEncodingChunked = chunked;
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task A_declared_body_over_the_route_limit_gets_413_without_reaching_the_upstream()
    {
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync("/small", 11));
        Assert.DoesNotContain(_upstreamSaw, seen => seen.StartsWith("/small", StringComparison.Ordinal));
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_downstream_rq_too_large_total", "route=\"small\"", 1);

        Assert.Equal(HttpStatusCode.OK, await PostAsync("/small", 10));
        Assert.Equal(HttpStatusCode.OK, await PostAsync("/other", 11));
    }

    [Fact]
    public async Task A_chunked_body_growing_past_the_route_limit_is_refused()
    {
        var status = await PostAsync("/small", 5000, chunked: true);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.DoesNotContain(_upstreamSaw, seen => seen == "/small 5000");
    }

    [Fact]
    public async Task A_limit_that_is_not_a_number_is_refused_at_reload_and_the_last_good_config_kept()
    {
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("small", "app", path: "/small").Route("app", "app");
        config.Routes["small"]!["Metadata"] = new JsonObject { ["ProxyMesh.MaxRequestBodySize"] = "ten" };
        await _proxy.RewriteSettingsAsync(config);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_config_update_rejected_total", null, 1);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync("/small", 11));
    }
}
