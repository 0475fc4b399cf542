using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// An h2c upstream in python3-h2 (a non-.NET HTTP/2 stack, its outbound header validation switched off) that puts CR,
/// LF, CRLF, NUL or another control character into a response header value, a trailer value, or gRPC's
/// <c>grpc-message</c>. RFC 9113 §8.2.1 makes such a response malformed; Envoy's codec refuses it. So does the proxy:
/// headers get a 502 (flag <c>UPE</c>), trailers reset the client's response (it has started); each is counted in
/// <c>proxymesh_upstream_cx_protocol_error_total</c>. Nothing raw reaches the client, and other requests — on the same
/// client connection too — are served. (Before: .NET's client turned CR, LF and NUL into spaces, so a header arrived as
/// <c>x-evil: a set-cookie: stolen=1</c>; a bad trailer reset the stream through an unhandled Kestrel exception, logged
/// per request and flagged as a success.)
/// </summary>
public sealed class UpstreamHttp2HeaderTests(NodeGrpc node) : IClassFixture<NodeGrpc>, IAsyncLifetime
{
    /// <summary>Python: answers each request as its path (or a gRPC call's <c>x-case</c>) says: <c>/h2/{header|trailer|grpc|trailers-only}/{case}</c>.</summary>
    private const string Answers = """
        VALUES = {"lf": b"a\nset-cookie: stolen=1", "cr": b"a\rset-cookie: stolen=1", "crlf": b"a\r\nset-cookie: stolen=1",
                  "nul": b"a\x00b", "control": b"a\x01b", "clean": b"fine"}

        def answer(conn, stream_id, path):
            kind, _, case = path.strip("/").partition("/")[2].partition("/")
            value = VALUES[case]
            if kind == "header":
                conn.send_headers(stream_id, [(":status", "200"), ("x-evil", value)])
                conn.send_data(stream_id, b"ok", end_stream=True)
            elif kind == "trailer":
                conn.send_headers(stream_id, [(":status", "200")])
                conn.send_data(stream_id, b"ok")
                conn.send_headers(stream_id, [("x-checksum", value)], end_stream=True)
            elif kind == "grpc":
                conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])
                conn.send_data(stream_id, b"\x00\x00\x00\x00\x00")
                conn.send_headers(stream_id, [("grpc-status", "13"), ("grpc-message", value)], end_stream=True)
            else:
                conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc"),
                                              ("grpc-status", "13"), ("grpc-message", value)], end_stream=True)

        def on_request(conn, event):
            headers = dict(event.headers)
            case = headers.get(b"x-case")
            path = "/h2/" + case.decode() if case else headers[b":path"].decode()
            answer(conn, event.stream_id, path)
        """;

    private PythonServer _upstream = null!;
    private Backend _good = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _upstream = await PythonServer.StartH2Async(
            Answers, "validate_outbound_headers=False, normalize_outbound_headers=False, validate_inbound_headers=False");
        _good = await Backend.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")));
        _proxy = await RunningProxy.StartAsync(new ProxyConfig()
            .Cluster("h2", _upstream.Address, http2: true)
            .Cluster("good", _good.Address)
            .Route("h2", "h2", "/h2/{**rest}")
            .Route("grpc", "h2", "/proxymesh.test.Echo/{**rest}")
            .Route("good", "good", "/good/{**rest}"));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _good.DisposeAsync();
        _upstream.Dispose();
    }

    private Task<double> ProtocolErrorsAsync() =>
        MetricsScrape.ValueAsync(_proxy, "proxymesh_upstream_cx_protocol_error_total", "cluster=\"h2\"");

    private Task ProtocolErrorsReachAsync(double expected) =>
        MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_cx_protocol_error_total", "cluster=\"h2\"", expected);

    private static void AssertNoRawControlCharacter(HttpResponseMessage response)
    {
        foreach (var field in response.Headers.NonValidated.Concat(response.TrailingHeaders.NonValidated))
        {
            Assert.False(field.Value.ToString().AsSpan().ContainsAny('\r', '\n', '\0'), $"{field.Key}: {field.Value}");
            Assert.NotEqual("set-cookie", field.Key, StringComparer.OrdinalIgnoreCase);
        }
    }

    [Theory]
    [InlineData("lf")]
    [InlineData("cr")]
    [InlineData("crlf")]
    [InlineData("nul")]
    [InlineData("control")]
    public async Task A_control_character_in_an_http2_header_value_gets_a_counted_502_for_http1_and_h2c_clients(string value)
    {
        var before = await ProtocolErrorsAsync();
        using var http1 = Clients.Http1(_proxy.Ingress);
        using var h2c = Clients.H2c(_proxy.Ingress);

        foreach (var client in new[] { http1, h2c })
        {
            using var response = await client.GetAsync($"/h2/header/{value}");

            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.False(response.Headers.Contains("x-evil"));
            AssertNoRawControlCharacter(response);
        }

        await ProtocolErrorsReachAsync(before + 2);
        Assert.Equal("ok", await h2c.GetStringAsync("/good/fine"));
    }

    [Fact]
    public async Task Clean_headers_and_trailers_pass()
    {
        using var client = Clients.H2c(_proxy.Ingress);

        using var headers = await client.GetAsync("/h2/header/clean");
        using var trailers = await client.GetAsync("/h2/trailer/clean");

        Assert.Equal(["fine"], headers.Headers.NonValidated["x-evil"]);
        Assert.Equal("ok", await trailers.Content.ReadAsStringAsync());
        Assert.Equal(["fine"], trailers.TrailingHeaders.NonValidated["x-checksum"]);
    }

    [Theory]
    [InlineData("trailer", "lf")]
    [InlineData("trailer", "crlf")]
    [InlineData("trailer", "nul")]
    [InlineData("trailer", "control")]
    [InlineData("grpc", "crlf")]
    [InlineData("grpc", "nul")]
    public async Task A_control_character_in_an_http2_trailer_resets_the_clients_response_and_is_counted(string kind, string value)
    {
        var before = await ProtocolErrorsAsync();
        using var client = Clients.H2c(_proxy.Ingress);

        var failure = await Assert.ThrowsAnyAsync<HttpRequestException>(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/h2/{kind}/{value}")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent([0, 0, 0, 0, 0]) { Headers = { { "content-type", "application/grpc" } } },
            };
            using var response = await client.SendAsync(request);
            await response.Content.ReadAsByteArrayAsync();
        });

        Assert.IsAssignableFrom<HttpProtocolException>(failure.InnerException);
        await ProtocolErrorsReachAsync(before + 1);
        Assert.Equal("ok", await client.GetStringAsync("/good/fine"));
    }

    /// <summary>
    /// curl over h2c: a 502 for a bad header; for a bad trailer the stream is reset (exit code 92, CURLE_HTTP2_STREAM) —
    /// after the headers and body, or before them when they were still in the proxy's output buffer — and no trailer
    /// is printed.
    /// </summary>
    [Fact]
    public async Task Curl_sees_a_502_for_a_bad_header_and_a_reset_stream_for_a_bad_trailer()
    {
        var (headerExit, header) = await Curl.RunAsync("--http2-prior-knowledge", "-i", new Uri(_proxy.Ingress, "/h2/header/crlf").ToString());
        var (trailerExit, trailer) = await Curl.RunAsync("--http2-prior-knowledge", "-i", new Uri(_proxy.Ingress, "/h2/trailer/crlf").ToString());

        Assert.True(headerExit == 0, header);
        Assert.StartsWith("HTTP/2 502", header, StringComparison.Ordinal);
        Assert.Equal(92, trailerExit);
        Assert.DoesNotContain("stolen", header + trailer, StringComparison.Ordinal);
        Assert.DoesNotContain("x-checksum", trailer, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A grpc-js client (a non-.NET gRPC stack): <c>grpc-message</c> with CRLF or NUL in the trailers resets the call
    /// (INTERNAL), in a trailers-only answer it gets the 502 (UNAVAILABLE); never the upstream's status or message.
    /// </summary>
    [Theory]
    [InlineData("grpc/crlf", 13)]
    [InlineData("grpc/nul", 13)]
    [InlineData("trailers-only/crlf", 14)]
    public async Task A_grpc_js_client_gets_an_error_status_never_the_raw_grpc_message(string answer, int expectedCode)
    {
        var before = await ProtocolErrorsAsync();

        var result = await node.CallAsync(_proxy.Ingress, new { method = "unary", message = "hi", metadata = new Dictionary<string, string> { ["x-case"] = answer } });

        Assert.Equal(expectedCode, result.Code);
        Assert.DoesNotContain("stolen", result.Details, StringComparison.Ordinal);
        Assert.All(result.Trailers.Values, value => Assert.DoesNotContain("stolen", value, StringComparison.Ordinal));
        await ProtocolErrorsReachAsync(before + 1);
    }

    [Theory]
    [InlineData("crlf")]
    [InlineData("nul")]
    public async Task A_trailers_only_grpc_answer_with_a_control_character_in_grpc_message_is_refused_before_the_client_sees_it(string value)
    {
        var before = await ProtocolErrorsAsync();
        using var client = Clients.H2c(_proxy.Ingress);
        using var request = client.Request(HttpMethod.Post, $"/h2/trailers-only/{value}");
        request.Content = new ByteArrayContent([0, 0, 0, 0, 0]) { Headers = { { "content-type", "application/grpc" } } };

        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();

        AssertNoRawControlCharacter(response);
        Assert.DoesNotContain("stolen", response.Headers.NonValidated.Concat(response.TrailingHeaders.NonValidated).Select(field => field.Value.ToString()));
        Assert.NotEqual("13", response.Headers.NonValidated.TryGetValues("grpc-status", out var status) ? status.ToString() : null);
        await ProtocolErrorsReachAsync(before + 1);
    }
}
