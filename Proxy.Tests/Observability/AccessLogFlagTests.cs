using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>The access log's <c>UO</c> (circuit breaker overflow) and <c>UR</c> (upstream reset) flags, end to end.</summary>
public sealed class AccessLogFlagTests : IAsyncLifetime
{
    private readonly string _log = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
    private int _reached;
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_log)!);
        _backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref _reached);
            if (context.Request.Path == "/reset")
            {
                context.Abort();
                return;
            }

            await context.Response.WriteAsync("ok");
        }));

        // "closed" admits no request at all (Envoy's max_requests: 0); "open" is an ordinary cluster on the same host.
        var config = new ProxyConfig()
            .Cluster("closed", _backend.Address).Route("closed", "closed", "/closed")
            .Cluster("open", _backend.Address).Route("open", "open", "/{**rest}");
        config.Root["ProxyMesh"]!["Clusters"] = new JsonObject
        {
            ["closed"] = new JsonObject { ["CircuitBreakers"] = new JsonObject { ["MaxRequests"] = 0 } },
        };
        config.Root["ProxyMesh"]!["Defaults"] = new JsonObject { ["Retry"] = new JsonObject { ["NumRetries"] = 0 } };
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = _log, ["SampleRate"] = 0 };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
        File.Delete(_log);
    }

    private async Task<(HttpStatusCode Status, JsonElement Entry)> SendAsync(string path)
    {
        using var client = Clients.Http1(_proxy.Ingress);
        var id = Guid.NewGuid().ToString();
        using var request = client.Request(HttpMethod.Get, path);
        request.Headers.Add("x-request-id", id);
        using var response = await client.SendAsync(request);
        JsonElement found = default;
        await Eventually.AssertAsync(
            () => Task.FromResult(AccessLogFile.Read(_log).Any(entry => (found = entry).GetProperty("request_id").GetString() == id)),
            $"an access log entry for {id}");
        return (response.StatusCode, found);
    }

    [Fact]
    public async Task Max_requests_zero_refuses_every_request_as_an_overflow_flagged_UO()
    {
        for (var i = 0; i < 3; i++)
        {
            var (status, entry) = await SendAsync("/closed");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal((503, "UO"), (entry.GetProperty("response_code").GetInt32(), entry.GetProperty("response_flags").GetString()));
        }

        Assert.Equal(0, Volatile.Read(ref _reached));
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"closed\"", 3);

        // Only that cluster is closed.
        using var client = Clients.Http1(_proxy.Ingress);
        using var open = await client.GetAsync("/ok");
        Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        Assert.Equal(1, Volatile.Read(ref _reached));
    }

    [Fact]
    public async Task An_upstream_that_resets_before_answering_is_flagged_UR()
    {
        var (status, entry) = await SendAsync("/reset");
        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Equal((502, "UR"), (entry.GetProperty("response_code").GetInt32(), entry.GetProperty("response_flags").GetString()));
        Assert.Equal(1, Volatile.Read(ref _reached));
    }
}
