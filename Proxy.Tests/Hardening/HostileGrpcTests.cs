using System.Buffers.Binary;
using Google.Protobuf;
using ProxyMesh.Proxy.Tests.Grpc;
using ProxyMesh.Proxy.Tests.Grpc.Bridging;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Hostile gRPC where the proxy reads gRPC frames itself (gRPC-Web, the HTTP/1.1 bridge), sent with curl: a length
/// prefix over <c>ProxyMesh:Grpc:MaxMessageBytes</c>, the compressed flag without <c>grpc-encoding</c>, a body that ends
/// inside a message, an upstream answer over the limit; and invalid <c>grpc-timeout</c> values from python3-h2. Each is
/// answered with a gRPC status and counted (the gRPC stats record the status the caller got); the upstream never gets
/// the bad frame; other calls are served.
/// </summary>
public sealed class HostileGrpcTests : IAsyncLifetime
{
    private const int Limit = 1024 * 1024;
    private const string UnaryPath = "/proxymesh.test.Echo/Unary";

    private readonly string _directory = Directory.CreateTempSubdirectory("proxymesh-hostile-grpc-").FullName;
    private BridgingUpstream _upstream = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _upstream = await BridgingUpstream.StartAsync();
        var config = BridgingConfig.Create(_upstream.Address);
        config.Root["ProxyMesh"]!["Grpc"] = new System.Text.Json.Nodes.JsonObject { ["MaxMessageBytes"] = Limit };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static byte[] Header(byte flags, uint length)
    {
        var header = new byte[5];
        header[0] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), length);
        return header;
    }

    public static TheoryData<string, byte[], string, string> BadFrames => new()
    {
        { "too-large", [.. Header(0, Limit + 1), .. new byte[64]], "8", "too_large" },
        { "compressed", [.. Header(1, 3), 1, 2, 3], "13", "compressed_without_encoding" },
        { "short-body", [.. Header(0, 100), .. new byte[10]], "13", "truncated" },
        { "short-header", [0, 0, 0], "13", "truncated" },
    };

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task A_bad_grpc_web_frame_is_refused_with_a_grpc_status_and_counted(string call, byte[] body, string status, string reason)
    {
        var labels = $"cluster=\"echo-web\",direction=\"request\",reason=\"{reason}\"";
        var before = await MetricsScrape.ValueAsync(_proxy, "proxymesh_grpc_invalid_frame_total", labels);
        var callLabels = CallLabels("echo-web", "Unary", status);
        var callsBefore = await MetricsScrape.ValueAsync(_proxy, "proxymesh_grpc_rq_total", callLabels);

        var (headers, answer) = await CurlAsync("application/grpc-web", body, call, host: "web.test");

        Assert.StartsWith("HTTP/1.1 200", headers[0]);
        var (messages, trailers) = GrpcWebTests.ReadFrames(answer);
        Assert.Empty(messages);
        Assert.Equal(status, trailers["grpc-status"]);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_invalid_frame_total", labels, before + 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", callLabels, callsBefore + 1);
        await AGoodCallIsServedAsync();
    }

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task A_bad_frame_through_the_http1_bridge_is_refused_with_grpc_status_headers_and_counted(string call, byte[] body, string status, string reason)
    {
        var labels = $"cluster=\"echo-bridge\",direction=\"request\",reason=\"{reason}\"";
        var before = await MetricsScrape.ValueAsync(_proxy, "proxymesh_grpc_invalid_frame_total", labels);
        var callLabels = CallLabels("echo-bridge", "Unary", status);
        var callsBefore = await MetricsScrape.ValueAsync(_proxy, "proxymesh_grpc_rq_total", callLabels);

        var (headers, answer) = await CurlAsync("application/grpc", body, call, host: "bridge.test");

        Assert.StartsWith("HTTP/1.1 503", headers[0]);
        Assert.Contains($"grpc-status: {status}", headers);
        Assert.Empty(answer);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_invalid_frame_total", labels, before + 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", callLabels, callsBefore + 1);
        await AGoodCallIsServedAsync();
    }

    [Fact]
    public async Task A_protobuf_body_over_the_limit_is_refused_before_the_upstream()
    {
        var (headers, _) = await CurlAsync("application/x-protobuf", new byte[Limit + 1], "protobuf-too-large", host: "bridge.test");

        Assert.StartsWith("HTTP/1.1 503", headers[0]);
        Assert.Contains("grpc-status: 8", headers);
        Assert.False(_upstream.Seen.ContainsKey("protobuf-too-large"));
    }

    [Fact]
    public async Task An_upstream_answer_over_the_limit_through_the_bridge_is_refused_not_buffered()
    {
        var labels = "cluster=\"echo-bridge\",direction=\"response\",reason=\"too_large\"";
        var before = await MetricsScrape.ValueAsync(_proxy, "proxymesh_grpc_invalid_frame_total", labels);
        var callLabels = CallLabels("echo-bridge", "ServerStream", "8");
        var callsBefore = await MetricsScrape.ValueAsync(_proxy, "proxymesh_grpc_rq_total", callLabels);
        var request = new EchoRequest { Message = new string('r', 400 * 1024), Count = 3 };

        var (headers, answer) = await CurlAsync(
            "application/grpc", GrpcWebTests.Frame(request), "answer-too-large", host: "bridge.test", path: "/proxymesh.test.Echo/ServerStream");

        Assert.True(headers[0].StartsWith("HTTP/1.1 503", StringComparison.Ordinal) && headers.Contains("grpc-status: 8"), string.Join("\n", headers));
        Assert.Empty(answer);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_invalid_frame_total", labels, before + 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", callLabels, callsBefore + 1);
        await AGoodCallIsServedAsync();
    }

    [Fact]
    public async Task Invalid_grpc_timeouts_from_a_non_dotnet_client_are_answered_internal_and_counted()
    {
        string[] invalid = ["soon", "1", "S", "123456789S", "-1S", "1.5S", "1X", "1 S"];
        var labels = "cluster=\"echo-plain\",grpc_service=\"proxymesh.test.Echo\",grpc_method=\"Unary\",grpc_status=\"13\"";
        var before = await MetricsScrape.ValueAsync(_proxy, "proxymesh_grpc_rq_total", labels);
        var calls = invalid
            .Select(value => new RawGrpcCall.Request(UnaryPath, RawGrpcCall.EchoRequest("t"), ("grpc-timeout", value), ("x-test-call", "timeout-" + value)))
            .Append(new RawGrpcCall.Request(UnaryPath, RawGrpcCall.EchoRequest("fine"), ("grpc-timeout", "10S")))
            .ToArray();

        var answers = await RawGrpcCall.SendAsync(_proxy.Egress, calls);

        for (var i = 0; i < invalid.Length; i++)
        {
            Assert.True(answers[i].EndStreamOnHeaders, $"grpc-timeout '{invalid[i]}' is answered trailers-only");
            Assert.Equal("13", answers[i].Header("grpc-status"));
            Assert.False(_upstream.Seen.ContainsKey("timeout-" + invalid[i]));
        }

        Assert.Equal("0", answers[^1].Trailers?.FirstOrDefault(pair => pair.Key == "grpc-status").Value);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", labels, before + invalid.Length);
    }

    /// <summary>The gRPC stats series of a call answered <paramref name="status"/>: the status the caller got.</summary>
    private static string CallLabels(string cluster, string method, string status) =>
        $"cluster=\"{cluster}\",grpc_service=\"proxymesh.test.Echo\",grpc_method=\"{method}\",grpc_status=\"{status}\"";

    private async Task AGoodCallIsServedAsync()
    {
        var (headers, body) = await CurlAsync("application/grpc-web", GrpcWebTests.Frame(new EchoRequest { Message = "fine" }), "fine", host: "web.test");
        Assert.StartsWith("HTTP/1.1 200", headers[0]);
        var (messages, trailers) = GrpcWebTests.ReadFrames(body);
        Assert.Equal("fine", EchoReply.Parser.ParseFrom(Assert.Single(messages)).Message);
        Assert.Equal("0", trailers["grpc-status"]);
    }

    private Task<(List<string> Headers, byte[] Body)> CurlAsync(string contentType, byte[] request, string call, string host, string path = UnaryPath) =>
        Curl.PostHttp1Async(_directory, new Uri(_proxy.Ingress, path), host, contentType, call, request);
}
