using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc;

/// <summary>
/// What gRPC carries besides plain messages, through the proxy with <c>@grpc/grpc-js</c> on the caller's side (and as
/// the server, or a raw h2c upstream where the wire itself is checked): compressed messages and their encoding headers,
/// binary (<c>-bin</c>) metadata, 4 MB messages and a route body limit, keepalive PINGs.
/// </summary>
public sealed class GrpcJsWireTests(NodeGrpc node) : IClassFixture<NodeGrpc>, IAsyncLifetime
{
    private const int FourMegabytes = 4 * 1024 * 1024;

    /// <summary>The gRPC frame of an EchoRequest whose message is 4 MB: 5 bytes of prefix, a 1-byte tag, a 4-byte length.</summary>
    private const int FourMegabyteRequestFrame = 5 + 1 + 4 + FourMegabytes;

    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        var config = new ProxyConfig().Cluster("node", node.ServerAddress, http2: true).Route("node", "node");
        config.Routes["node"]!["Metadata"] = new JsonObject { ["ProxyMesh.MaxRequestBodySize"] = FourMegabyteRequestFrame.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync() => await _proxy.DisposeAsync();

    [Fact]
    public async Task Gzip_messages_pass_between_grpc_js_peers()
    {
        var result = await node.CallAsync(_proxy.Ingress, new { method = "unary", message = "squeeze me", compression = "gzip" });
        Assert.Equal((0, "squeeze me"), (result.Code, Assert.Single(result.Replies).Message));
    }

    [Fact]
    public async Task A_compressed_message_keeps_its_flag_and_encoding_headers_in_both_directions()
    {
        string? encoding = null, acceptEncoding = null;
        byte? requestFlag = null;
        await using var upstream = await Backend.StartAsync(
            app => app.Run(async context =>
            {
                encoding = context.Request.Headers["grpc-encoding"];
                acceptEncoding = context.Request.Headers["grpc-accept-encoding"];
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body, context.RequestAborted);
                var frame = body.ToArray();
                requestFlag = frame[0];
                var request = EchoRequest.Parser.ParseFrom(Gunzip(frame.AsSpan(5, BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(1, 4))).ToArray()));

                context.Response.ContentType = "application/grpc";
                context.Response.Headers["grpc-encoding"] = "gzip";
                context.Response.Headers["grpc-accept-encoding"] = "identity,gzip";
                var reply = Gzip(new EchoReply { Message = request.Message.ToUpperInvariant() }.ToByteArray());
                var prefix = new byte[5];
                prefix[0] = 1;
                BinaryPrimitives.WriteInt32BigEndian(prefix.AsSpan(1), reply.Length);
                await context.Response.Body.WriteAsync(prefix, context.RequestAborted);
                await context.Response.Body.WriteAsync(reply, context.RequestAborted);
                context.Response.AppendTrailer("grpc-status", "0");
            }),
            HttpProtocols.Http2);
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("raw", upstream.Address, http2: true).Route("raw", "raw"));

        var result = await node.CallAsync(proxy.Ingress, new { method = "unary", message = "squeeze me", compression = "gzip" });

        Assert.Equal("gzip", encoding);
        Assert.Contains("gzip", acceptEncoding!.Split(','));
        Assert.Equal((byte)1, requestFlag);
        Assert.Equal((0, "SQUEEZE ME"), (result.Code, Assert.Single(result.Replies).Message)); // grpc-js read a flagged, gzip-encoded reply
    }

    [Fact]
    public async Task Binary_metadata_round_trips_byte_exact_in_headers_and_trailers()
    {
        var everyByte = Convert.ToBase64String(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray());
        var oneByte = Convert.ToBase64String([0xff]); // padded "/w==": gRPC sends binary values unpadded, any padding must be read
        var result = await node.CallAsync(_proxy.Ingress, new
        {
            method = "unary",
            message = "meta",
            metadata = new Dictionary<string, string> { ["x-echo-blob-bin"] = everyByte, ["x-echo-one-bin"] = oneByte, ["x-echo-text"] = "plain" },
        });

        Assert.Equal(0, result.Code);
        foreach (var seen in new[] { result.Headers!, result.Trailers })
        {
            Assert.Equal(everyByte, seen["x-echo-blob-bin"]);
            Assert.Equal(oneByte, seen["x-echo-one-bin"]);
            Assert.Equal("plain", seen["x-echo-text"]);
        }
    }

    [Fact]
    public async Task A_4_MB_message_passes_in_both_directions()
    {
        var result = await node.CallAsync(_proxy.Ingress, new { method = "unary", messageSize = FourMegabytes, digest = true });
        Assert.Equal(0, result.Code);
        Assert.Equal($"{FourMegabytes}:{Digest(FourMegabytes)}", Assert.Single(result.Replies).Message);
    }

    [Fact]
    public async Task A_message_one_byte_over_the_routes_body_limit_is_refused_with_a_grpc_status()
    {
        var result = await node.CallAsync(_proxy.Ingress, new { method = "unary", messageSize = FourMegabytes + 1, digest = true });
        Assert.Equal(8, result.Code); // RESOURCE_EXHAUSTED, as a gRPC server answers a message over its limit
        Assert.Empty(result.Replies);
        Assert.Contains("larger than", result.Details, StringComparison.Ordinal);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_downstream_rq_too_large_total", "route=\"node\"", 1);
        Assert.Equal(0, (await node.CallAsync(_proxy.Ingress, new { method = "unary", message = "after" })).Code);
    }

    [Fact]
    public async Task Keepalive_pings_from_grpc_js_are_answered_and_keep_one_connection_serving_every_call()
    {
        // grpc-js pings every 100 ms once the previous ping is answered, with and without calls in flight; calls come
        // 700 ms apart, so dozens of PINGs cross the proxy between and during them.
        var result = await node.CallAsync(_proxy.Ingress, new { method = "serverStream", message = "m", count = 3, delayMs = 200, keepaliveTimeMs = 100, repeat = 4, gapMs = 700 });

        Assert.All(result.Calls!, call => Assert.Equal(0, call.Code));
        Assert.Equal(3, result.Replies.Count);
        Assert.Empty(result.Goaways!);
        Assert.True(result.PingsAcked >= 10, $"{result.PingsAcked} of {result.PingsSent} pings answered");
        Assert.Equal(1, await MetricsScrape.RequiredAsync(_proxy, "proxymesh_downstream_cx_total", "listener=\"ingress\""));
    }

    private static string Digest(int size)
    {
        var message = string.Concat(Enumerable.Repeat("0123456789abcdef", (size / 16) + 1))[..size];
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(message)));
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    private static byte[] Gunzip(byte[] data)
    {
        using var gzip = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }
}
