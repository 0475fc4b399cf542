using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>An upstream that dies mid-response: the client sees the failure, never a short body that looks complete.</summary>
public sealed class UpstreamFaultTests : IAsyncLifetime
{
    private readonly string _log = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_log)!);
        _backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            // Promise a megabyte, send a kilobyte, then the upstream connection is gone.
            context.Response.ContentLength = 1_000_000;
            await context.Response.Body.WriteAsync(new byte[1000]);
            await context.Response.Body.FlushAsync();
            await Task.Delay(TimeSpan.FromMilliseconds(300));
            context.Abort();
        }), Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2);
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = _log };
        config.Root["ProxyMesh"]!["Defaults"] = new JsonObject { ["Retry"] = new JsonObject { ["NumRetries"] = 0 } };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
        File.Delete(_log);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_upstream_killed_mid_response_is_a_failed_read_for_the_client_and_flagged_UC(bool http2)
    {
        using var client = http2 ? Clients.H2c(_proxy.Ingress) : Clients.Http1(_proxy.Ingress);
        var id = Guid.NewGuid().ToString();
        using var request = client.Request(HttpMethod.Get, "/download");
        request.Headers.Add("x-request-id", id);

        var got = "";
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            got = $"{(int)response.StatusCode} with {response.Content.Headers.ContentLength} declared";
            got += $", {(await response.Content.ReadAsByteArrayAsync()).Length} bytes";
        });

        Assert.True(failure is HttpRequestException or HttpIOException or IOException, $"the client saw the failure, got {failure?.GetType().Name ?? "a complete body"}: {got}");
        JsonElementAssert(await EntryAsync(id));
    }

    private static void JsonElementAssert(System.Text.Json.JsonElement entry) =>
        Assert.Equal("UC", entry.GetProperty("response_flags").GetString());

    private async Task<System.Text.Json.JsonElement> EntryAsync(string id)
    {
        System.Text.Json.JsonElement found = default;
        await Eventually.AssertAsync(
            () => Task.FromResult(AccessLogFile.Read(_log).Any(entry => (found = entry).GetProperty("request_id").GetString() == id)),
            $"an access log entry for {id}");
        return found;
    }
}
