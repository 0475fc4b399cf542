using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client.Web;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>gRPC-Web through the proxy to a plain gRPC upstream, with Grpc.Net.Client.Web in every mode and raw HTTP.</summary>
public sealed class GrpcWebTests : IAsyncLifetime
{
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
    }

    public static TheoryData<GrpcWebMode, string> Modes => new()
    {
        { GrpcWebMode.GrpcWeb, "1.1" },
        { GrpcWebMode.GrpcWeb, "2.0" },
        { GrpcWebMode.GrpcWebText, "1.1" },
        { GrpcWebMode.GrpcWebText, "2.0" },
    };

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Unary_call_reaches_the_upstream_as_plain_grpc_with_te_trailers(GrpcWebMode mode, string version)
    {
        var versions = new VersionRecorder();
        using var channel = BridgingUpstream.WebChannel(_proxy.Ingress, mode, Version.Parse(version), versions);
        var client = new Echo.EchoClient(channel);
        var call = $"unary-{mode}-{version}";

        using var reply = client.UnaryAsync(new EchoRequest { Message = "hi" }, new Metadata { { "x-test-call", call } });
        Assert.Equal("hi", (await reply).Message);
        Assert.Equal(StatusCode.OK, reply.GetStatus().StatusCode);

        Assert.All(versions.Versions, actual => Assert.Equal(Version.Parse(version), actual));
        var seen = _upstream.Seen[call];
        Assert.Equal("HTTP/2", seen["x-seen-protocol"]);
        Assert.Equal("application/grpc", seen.ContentType);
        Assert.Equal("trailers", seen["te"]);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Server_stream_delivers_every_message_then_the_status(GrpcWebMode mode, string version)
    {
        using var channel = BridgingUpstream.WebChannel(_proxy.Ingress, mode, Version.Parse(version));
        var client = new Echo.EchoClient(channel);

        using var call = client.ServerStream(new EchoRequest { Message = "m", Count = 5 });
        var messages = await call.ResponseStream.ReadAllAsync().Select(reply => reply.Message).ToListAsync();
        Assert.Equal(["m 0", "m 1", "m 2", "m 3", "m 4"], messages);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Error_status_message_and_trailing_metadata_arrive_from_a_trailers_only_answer(GrpcWebMode mode, string version)
    {
        using var channel = BridgingUpstream.WebChannel(_proxy.Ingress, mode, Version.Parse(version));
        var client = new Echo.EchoClient(channel);

        using var call = client.UnaryAsync(new EchoRequest { FailWithStatus = (int)StatusCode.PermissionDenied });
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Equal("failing with 7 as asked", error.Status.Detail);
        Assert.Equal("requested by test", error.Trailers.GetValue("x-failure-detail"));
    }

    [Theory]
    [InlineData(GrpcWebMode.GrpcWeb)]
    [InlineData(GrpcWebMode.GrpcWebText)]
    public async Task Four_megabyte_messages_pass_both_ways(GrpcWebMode mode)
    {
        using var channel = BridgingUpstream.WebChannel(_proxy.Ingress, mode, HttpVersion.Version11);
        var client = new Echo.EchoClient(channel);
        var large = new string('x', 4 * 1024 * 1024);

        var reply = await client.UnaryAsync(new EchoRequest { Message = large });
        Assert.Equal(large.Length, reply.Message.Length);
        Assert.Equal(large, reply.Message);
    }

    [Fact]
    public async Task Text_request_split_into_many_small_chunks_with_padding_per_message_is_decoded()
    {
        // Two messages, each base64-encoded on its own (padding inside the body), written 3 bytes at a time.
        var body = Base64Frame(new EchoRequest { Message = "a" }) + Base64Frame(new EchoRequest { Message = "bb" });
        Assert.Contains('=', body[..^1]);
        using var http = Clients.Http1(_proxy.Ingress);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/proxymesh.test.Echo/ClientStream") { Content = new TrickleContent(Encoding.ASCII.GetBytes(body), 3) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/grpc-web-text");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        var (messages, trailers) = ReadTextResponse(await response.Content.ReadAsStringAsync());
        Assert.Equal("a,bb", EchoReply.Parser.ParseFrom(Assert.Single(messages)).Message);
        Assert.Equal("0", trailers["grpc-status"]);
    }

    [Fact]
    public async Task Text_response_with_many_frames_decodes_to_each_message_and_the_trailers()
    {
        using var http = Clients.Http1(_proxy.Ingress);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/proxymesh.test.Echo/ServerStream")
        {
            Content = new TrickleContent(Encoding.ASCII.GetBytes(Base64Frame(new EchoRequest { Message = "s", Count = 3 })), 1),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/grpc-web-text+proto");
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("application/grpc-web-text", response.Content.Headers.ContentType!.MediaType);
        var (messages, trailers) = ReadTextResponse(await response.Content.ReadAsStringAsync());
        Assert.Equal(["s 0", "s 1", "s 2"], messages.Select(message => EchoReply.Parser.ParseFrom(message).Message));
        Assert.Equal("0", trailers["grpc-status"]);
    }

    [Theory]
    [InlineData("application/grpc-web-text", "AAAAAA!!")]
    [InlineData("application/grpc-web-text", "AAAAAAIKAWE")]
    public async Task Malformed_base64_gets_a_clear_grpc_error_and_the_proxy_keeps_serving(string contentType, string body)
    {
        using var http = Clients.Http1(_proxy.Ingress);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/proxymesh.test.Echo/Unary") { Content = new ByteArrayContent(Encoding.ASCII.GetBytes(body)) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (messages, trailers) = ReadTextResponse(await response.Content.ReadAsStringAsync());
        Assert.Empty(messages);
        Assert.Equal("13", trailers["grpc-status"]);
        Assert.Contains("not valid base64", Uri.UnescapeDataString(trailers["grpc-message"]), StringComparison.Ordinal);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_web_malformed_total", "cluster=\"echo-web\"", 1);
        await Still_serves();
    }

    [Fact]
    public async Task Malformed_frame_gets_the_upstreams_grpc_error_and_the_proxy_keeps_serving()
    {
        using var http = Clients.Http1(_proxy.Ingress);
        // The frame announces 100 bytes and carries 3.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/proxymesh.test.Echo/Unary") { Content = new ByteArrayContent([0, 0, 0, 0, 100, 1, 2, 3]) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/grpc-web+proto");
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (messages, trailers) = ReadFrames(await response.Content.ReadAsByteArrayAsync());
        Assert.Empty(messages);
        Assert.NotEqual("0", trailers["grpc-status"]);
        await Still_serves();
    }

    [Fact]
    public async Task Routes_without_the_switch_are_not_translated()
    {
        using var http = Clients.Http1(_proxy.Ingress);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/proxymesh.test.Echo/Unary") { Content = new ByteArrayContent(Frame(new EchoRequest { Message = "x" })) };
        request.Headers.Host = "plain.test";
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/grpc-web");
        using var response = await http.SendAsync(request);

        Assert.False(response.Content.Headers.ContentType?.MediaType?.StartsWith("application/grpc-web", StringComparison.Ordinal) == true);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    private async Task Still_serves()
    {
        using var channel = BridgingUpstream.WebChannel(_proxy.Ingress, GrpcWebMode.GrpcWebText, HttpVersion.Version11);
        Assert.Equal("after", (await new Echo.EchoClient(channel).UnaryAsync(new EchoRequest { Message = "after" })).Message);
    }

    public static byte[] Frame(IMessage message)
    {
        var payload = message.ToByteArray();
        var frame = new byte[5 + payload.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    private static string Base64Frame(IMessage message) => Convert.ToBase64String(Frame(message));

    /// <summary>Decodes a grpc-web-text body whose padded groups may sit anywhere, then splits it into frames.</summary>
    public static (List<byte[]> Messages, Dictionary<string, string> Trailers) ReadTextResponse(string body)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < body.Length; i += 4)
        {
            bytes.AddRange(Convert.FromBase64String(body.Substring(i, 4)));
        }

        return ReadFrames([.. bytes]);
    }

    public static (List<byte[]> Messages, Dictionary<string, string> Trailers) ReadFrames(byte[] body)
    {
        var messages = new List<byte[]>();
        var trailers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var position = 0; position < body.Length;)
        {
            var flags = body[position];
            var length = BinaryPrimitives.ReadInt32BigEndian(body.AsSpan(position + 1));
            var payload = body.AsSpan(position + 5, length).ToArray();
            position += 5 + length;
            if ((flags & 0x80) == 0)
            {
                messages.Add(payload);
                continue;
            }

            foreach (var line in Encoding.UTF8.GetString(payload).Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                trailers[line[..colon]] = line[(colon + 1)..].Trim();
            }
        }

        return (messages, trailers);
    }

    /// <summary>A request body sent a few bytes at a time, each piece flushed on its own.</summary>
    private sealed class TrickleContent(byte[] body, int pieceSize) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var i = 0; i < body.Length; i += pieceSize)
            {
                await stream.WriteAsync(body.AsMemory(i, Math.Min(pieceSize, body.Length - i)));
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
