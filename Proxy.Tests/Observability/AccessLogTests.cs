using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>One JSON line per request with Envoy's fields; failures carry Envoy's response flags and are always logged.</summary>
public sealed class AccessLogTests : IAsyncLifetime
{
    private readonly string _log = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_log)!);
        _backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            if (context.Request.Path == "/slow")
            {
                await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
                return;
            }

            if (context.Request.Path == "/stream")
            {
                await context.Response.WriteAsync("first", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
                return;
            }

            using var reader = new StreamReader(context.Request.Body);
            await context.Response.WriteAsync("echo:" + await reader.ReadToEndAsync(context.RequestAborted));
        }));
        var config = new ProxyConfig()
            .Cluster("app", _backend.Address)
            .Cluster("impatient", _backend.Address)
            .Cluster("dead", $"http://127.0.0.1:{ProxyProcess.FreePort()}")
            .DiscoveryCluster("empty", "empty", $"http://127.0.0.1:{ProxyProcess.FreePort()}")
            .Route("app", "app", path: "/{**rest}", listeners: "ingress")
            .Route("slow", "impatient", path: "/slow", listeners: "ingress")
            .Route("dead", "dead", path: "/dead", listeners: "ingress")
            .Route("empty", "empty", path: "/empty", listeners: "ingress");
        config.Clusters["impatient"]!["HttpRequest"] = new JsonObject { ["ActivityTimeout"] = "00:00:00.300" };
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = _log, ["SampleRate"] = 0 };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
        File.Delete(_log);
    }

    private static async Task<JsonElement> EntryForAsync(string log, string requestId)
    {
        JsonElement found = default;
        await Eventually.AssertAsync(
            () => Task.FromResult(AccessLogFile.Read(log).Any(entry => (found = entry).GetProperty("request_id").GetString() == requestId)),
            $"an access log entry for {requestId}");
        return found;
    }

    private async Task<JsonElement> SendAsync(string path, HttpContent? body = null, HttpClient? client = null)
    {
        using var owned = client is null ? Clients.Http1(_proxy.Ingress) : null;
        var id = Guid.NewGuid().ToString();
        using var request = (client ?? owned!).Request(body is null ? HttpMethod.Get : HttpMethod.Post, path);
        request.Content = body;
        request.Headers.Add("x-request-id", id);
        request.Headers.Add("x-forwarded-for", "203.0.113.7");
        request.Headers.UserAgent.ParseAdd("tests/1.0");
        (await (client ?? owned!).SendAsync(request)).Dispose();
        return await EntryForAsync(_log, id);
    }

    [Fact]
    public async Task Errors_are_logged_even_at_sample_rate_zero_with_their_flags()
    {
        var timeout = await SendAsync("/slow");
        // The cluster's own activity timeout is the stream idle timeout: Envoy's flag SI.
        Assert.Equal((504, "SI"), (timeout.GetProperty("response_code").GetInt32(), timeout.GetProperty("response_flags").GetString()));

        var refused = await SendAsync("/dead");
        Assert.Equal((502, "UF"), (refused.GetProperty("response_code").GetInt32(), refused.GetProperty("response_flags").GetString()));

        var noHost = await SendAsync("/empty");
        Assert.Equal((503, "UH"), (noHost.GetProperty("response_code").GetInt32(), noHost.GetProperty("response_flags").GetString()));
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_cx_none_healthy_total", "cluster=\"empty\"", 1);
        using var client = Clients.Http1(_proxy.Ingress);
        Assert.Equal("no healthy upstream", await (await client.GetAsync("/empty")).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_request_with_no_route_is_flagged_NR()
    {
        using var egress = Clients.Http1(_proxy.Egress);
        var entry = await SendAsync("/anything", client: egress);
        Assert.Equal((404, "NR"), (entry.GetProperty("response_code").GetInt32(), entry.GetProperty("response_flags").GetString()));
    }

    [Fact]
    public async Task A_client_that_goes_away_mid_response_is_flagged_DC()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        var id = Guid.NewGuid().ToString();
        using var request = client.Request(HttpMethod.Get, "/stream");
        request.Headers.Add("x-request-id", id);
        using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            var stream = await response.Content.ReadAsStreamAsync();
            Assert.True(await stream.ReadAsync(new byte[5]) > 0);
        }

        client.Dispose();
        var entry = await EntryForAsync(_log, id);
        Assert.Equal("DC", entry.GetProperty("response_flags").GetString());
    }

    [Fact]
    public async Task A_sampled_request_has_every_field()
    {
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app");
        var log = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log };
        await using (var proxy = await RunningProxy.StartAsync(config))
        {
            using var client = Clients.H2c(proxy.Ingress);
            var id = Guid.NewGuid().ToString();
            using var request = client.Request(HttpMethod.Post, "/orders?page=2");
            request.Content = new StringContent("hello");
            request.Headers.Add("x-request-id", id);
            request.Headers.Add("x-forwarded-for", "203.0.113.7");
            request.Headers.UserAgent.ParseAdd("tests/1.0");
            (await client.SendAsync(request)).Dispose();

            var entry = await EntryForAsync(log, id);
            Assert.Equal("POST", entry.GetProperty("method").GetString());
            Assert.Equal("/orders?page=2", entry.GetProperty("path").GetString());
            Assert.Equal("HTTP/2", entry.GetProperty("protocol").GetString());
            Assert.Equal(200, entry.GetProperty("response_code").GetInt32());
            Assert.Equal("-", entry.GetProperty("response_flags").GetString());
            Assert.Equal(5, entry.GetProperty("bytes_received").GetInt64());
            Assert.Equal("echo:hello".Length, entry.GetProperty("bytes_sent").GetInt64());
            Assert.True(entry.GetProperty("duration_ms").GetDouble() >= entry.GetProperty("upstream_service_time_ms").GetDouble());
            Assert.Equal(_backend.Address, entry.GetProperty("upstream_host").GetString());
            Assert.Equal("203.0.113.7", entry.GetProperty("x_forwarded_for").GetString());
            Assert.Equal("tests/1.0", entry.GetProperty("user_agent").GetString());
            Assert.Equal(proxy.Ingress.Authority, entry.GetProperty("authority").GetString());
            Assert.Equal(("ingress", "app", "app"), (entry.GetProperty("listener").GetString(), entry.GetProperty("route").GetString(), entry.GetProperty("cluster").GetString()));
            Assert.True(DateTimeOffset.UtcNow - entry.GetProperty("start_time").GetDateTimeOffset() < TimeSpan.FromMinutes(1));
        }

        File.Delete(log);
    }

    [Fact]
    public async Task Successful_requests_are_not_logged_at_sample_rate_zero()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        var quiet = Guid.NewGuid().ToString();
        using (var request = client.Request(HttpMethod.Get, "/ok"))
        {
            request.Headers.Add("x-request-id", quiet);
            (await client.SendAsync(request)).Dispose();
        }

        await SendAsync("/dead");
        Assert.DoesNotContain(AccessLogFile.Read(_log), entry => entry.GetProperty("request_id").GetString() == quiet);
    }
}
