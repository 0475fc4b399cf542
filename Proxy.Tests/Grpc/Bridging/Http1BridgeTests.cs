using Google.Protobuf;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>Envoy's grpc_http1_bridge through the proxy, driven by curl over HTTP/1.1 (a non-.NET client).</summary>
public sealed class Http1BridgeTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("proxymesh-bridge-").FullName;
    private BridgingUpstream _upstream = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _upstream = await BridgingUpstream.StartAsync();
        _proxy = await RunningProxy.StartAsync(BridgingConfig.Create(_upstream.Address));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Grpc_framed_post_over_http11_gets_the_reply_and_the_status_as_headers()
    {
        var (headers, body) = await CurlAsync("application/grpc", GrpcWebTests.Frame(new EchoRequest { Message = "bridged" }), "/proxymesh.test.Echo/Unary", "ok");

        Assert.StartsWith("HTTP/1.1 200", headers[0]);
        Assert.Contains("grpc-status: 0", headers);
        var (messages, _) = GrpcWebTests.ReadFrames(body);
        Assert.Equal("bridged", EchoReply.Parser.ParseFrom(Assert.Single(messages)).Message);
        Assert.Contains($"content-length: {body.Length}", headers);

        var seen = _upstream.Seen["ok"];
        Assert.Equal("HTTP/2", seen["x-seen-protocol"]);
        Assert.Equal("trailers", seen["te"]);
    }

    [Fact]
    public async Task Grpc_error_becomes_503_with_grpc_status_and_message_headers()
    {
        var (headers, body) = await CurlAsync(
            "application/grpc", GrpcWebTests.Frame(new EchoRequest { FailWithStatus = 5 }), "/proxymesh.test.Echo/Unary", "error");

        Assert.StartsWith("HTTP/1.1 503", headers[0]);
        Assert.Contains("grpc-status: 5", headers);
        Assert.Contains(headers, header => header.StartsWith("grpc-message: failing with 5 as asked", StringComparison.Ordinal));
        Assert.Empty(body);
    }

    [Fact]
    public async Task Unknown_method_is_answered_503_with_unimplemented()
    {
        var (headers, _) = await CurlAsync("application/grpc", GrpcWebTests.Frame(new EchoRequest()), "/proxymesh.test.Echo/Missing", "missing");

        Assert.StartsWith("HTTP/1.1 503", headers[0]);
        Assert.Contains("grpc-status: 12", headers);
    }

    [Fact]
    public async Task Protobuf_body_is_framed_on_the_way_in_and_unframed_on_the_way_out()
    {
        var (headers, body) = await CurlAsync("application/x-protobuf", new EchoRequest { Message = "proto" }.ToByteArray(), "/proxymesh.test.Echo/Unary", "protobuf");

        Assert.StartsWith("HTTP/1.1 200", headers[0]);
        Assert.Contains("content-type: application/x-protobuf", headers);
        Assert.Contains("grpc-status: 0", headers);
        Assert.Equal("proto", EchoReply.Parser.ParseFrom(body).Message);
        Assert.Equal("application/grpc", _upstream.Seen["protobuf"].ContentType);
    }

    [Fact]
    public async Task Four_megabyte_protobuf_message_passes_both_ways()
    {
        var large = new string('y', 4 * 1024 * 1024);
        var (headers, body) = await CurlAsync("application/x-protobuf", new EchoRequest { Message = large }.ToByteArray(), "/proxymesh.test.Echo/Unary", "large");

        Assert.StartsWith("HTTP/1.1 200", headers[0]);
        Assert.Equal(large, EchoReply.Parser.ParseFrom(body).Message);
    }

    [Fact]
    public async Task Protobuf_is_not_upgraded_on_routes_without_the_switch()
    {
        var (headers, _) = await CurlAsync("application/x-protobuf", new EchoRequest { Message = "p" }.ToByteArray(), "/proxymesh.test.Echo/Unary", "no-upgrade", host: "plain.test");

        Assert.DoesNotContain("grpc-status: 0", headers);
        Assert.False(_upstream.Seen.TryGetValue("no-upgrade", out var seen) && seen.ContentType == "application/grpc");
    }

    private Task<(List<string> Headers, byte[] Body)> CurlAsync(string contentType, byte[] request, string path, string call, string host = "bridge.test") =>
        Curl.PostHttp1Async(_directory, new Uri(_proxy.Ingress, path), host, contentType, call, request);
}
