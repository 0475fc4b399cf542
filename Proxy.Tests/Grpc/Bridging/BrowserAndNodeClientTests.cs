using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>
/// Non-.NET gRPC-Web clients through the proxy: the grpc-web library in headless Chromium on a page of another origin
/// (so every call is preflighted under the route's CORS policy), and a hand-rolled grpc-web-text client on Node's fetch.
/// </summary>
public sealed class BrowserAndNodeClientTests : IAsyncLifetime
{
    private readonly string _pageDirectory = Directory.CreateTempSubdirectory("proxymesh-page-").FullName;
    private BridgingUpstream _upstream = null!;

    public async Task InitializeAsync()
    {
        _upstream = await BridgingUpstream.StartAsync();
        await GrpcWebPeer.BundlePageAsync(_pageDirectory);
    }

    public async Task DisposeAsync()
    {
        await _upstream.DisposeAsync();
        Directory.Delete(_pageDirectory, recursive: true);
    }

    [Fact]
    public async Task Browser_calls_unary_server_stream_errors_and_4_MB_through_the_proxy_cross_origin()
    {
        Assert.True(File.Exists(GrpcWebPeer.Chromium), $"{GrpcWebPeer.Chromium} is missing: apt-get install chromium (.ci/run does)");
        await using var page = await StartPageServerAsync();
        await using var proxy = await RunningProxy.StartAsync(BridgingConfig.Create(_upstream.Address, allowedOrigin: page.Address));

        var results = await RunBrowserAsync(page, proxy);

        var text = results["text"]!;
        Assert.Equal(0, (int)text["unary"]!["code"]!);
        Assert.Equal("hello text", (string?)text["unary"]!["message"]);
        Assert.Equal(5, (int)text["error"]!["code"]!);
        Assert.Equal("failing with 5 as asked", (string?)text["error"]!["message"]);
        Assert.Equal(0, (int)text["large"]!["code"]!);
        Assert.Equal(4 * 1024 * 1024, (int)text["large"]!["length"]!);
        Assert.Equal(["tick 0", "tick 1", "tick 2"], text["stream"]!["messages"]!.AsArray().Select(m => (string)m!));
        Assert.Equal(0, (int)text["stream"]!["code"]!);
        Assert.Equal(9, (int)text["streamError"]!["code"]!);
        var binary = results["binary"]!;
        Assert.Equal("hello binary", (string?)binary["unary"]!["message"]);
        Assert.Equal(5, (int)binary["error"]!["code"]!);
        Assert.Equal(4 * 1024 * 1024, (int)binary["large"]!["length"]!);

        // The browser sent the call, and its custom metadata, only after the proxy's preflight allowed them.
        var seen = _upstream.Seen["browser"];
        Assert.Equal("application/grpc+proto", seen.ContentType); // the last call was binary: application/grpc-web+proto
        Assert.Equal("trailers", seen["te"]);
    }

    [Fact]
    public async Task Browser_on_an_origin_the_policy_does_not_allow_is_refused()
    {
        Assert.True(File.Exists(GrpcWebPeer.Chromium), $"{GrpcWebPeer.Chromium} is missing: apt-get install chromium (.ci/run does)");
        await using var page = await StartPageServerAsync();
        await using var proxy = await RunningProxy.StartAsync(BridgingConfig.Create(_upstream.Address, allowedOrigin: "http://elsewhere.test"));

        var results = await RunBrowserAsync(page, proxy);

        Assert.NotEqual(0, (int)results["text"]!["unary"]!["code"]!);
        Assert.False(_upstream.Seen.ContainsKey("browser"));
    }

    [Fact]
    public async Task Node_fetch_client_streams_text_requests_and_decodes_multi_frame_text_answers()
    {
        await using var proxy = await RunningProxy.StartAsync(BridgingConfig.Create(_upstream.Address));
        var (exitCode, output) = await GrpcWebPeer.NodeAsync("text-client.mjs", proxy.Ingress.ToString().TrimEnd('/'));
        Assert.True(exitCode == 0, output);
        var results = JsonNode.Parse(output)!;

        var stream = results["stream"]!;
        Assert.Equal(200, (int)stream["status"]!);
        Assert.StartsWith("application/grpc-web-text", (string?)stream["contentType"]);
        Assert.Equal(["n 0", "n 1", "n 2", "n 3"], stream["messages"]!.AsArray().Select(m => (string)m!));
        Assert.Equal("0", (string?)stream["trailers"]!["grpc-status"]);
        Assert.Equal(["x,yy,zzz"], results["clientStream"]!["messages"]!.AsArray().Select(m => (string)m!));
        Assert.Equal("8", (string?)results["error"]!["trailers"]!["grpc-status"]);
        Assert.Equal("requested by test", (string?)results["error"]!["trailers"]!["x-failure-detail"]);
    }

    private static async Task<JsonNode> RunBrowserAsync(Backend page, RunningProxy proxy)
    {
        var url = $"{page.Address}/?proxy={Uri.EscapeDataString(proxy.Ingress.ToString().TrimEnd('/'))}";
        var (exitCode, output) = await GrpcWebPeer.NodeAsync("browser-test.mjs", url, GrpcWebPeer.Chromium);
        Assert.True(exitCode == 0, output);
        var run = JsonNode.Parse(output)!;
        var results = run["results"]!;
        Assert.True(results["failure"] is null, $"{results["failure"]}\n{run["console"]?.ToJsonString()}");
        return results;
    }

    /// <summary>Serves the test page and its bundled script from an origin of its own.</summary>
    private Task<Backend> StartPageServerAsync() => Backend.StartAsync(app =>
    {
        app.MapGet("/", () => Results.Content("<!doctype html><html><head><title>gRPC-Web</title></head><body><script src=\"bundle.js\"></script></body></html>", "text/html"));
        app.MapGet("/bundle.js", () => Results.File(Path.Combine(_pageDirectory, "bundle.js"), "text/javascript"));
    });
}
