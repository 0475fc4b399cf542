using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// A raw-socket HTTP/1.1 upstream whose response heads and chunked trailers carry bare LF, bare CR, NUL or other control
/// characters, or split a framing header off with a bare LF.
/// <list type="bullet">
/// <item>A bare LF ends a header line — for .NET's client as for Envoy's Balsa, nginx and haproxy (RFC 9112 §2.2) — so
/// the line after it is a header of its own. The client gets exactly the headers the proxy parsed, re-framed with CRLF
/// by Kestrel; no raw CR or LF reaches it. A framing header smuggled in that way (a second Content-Length, a
/// Transfer-Encoding next to Content-Length) is refused as Envoy refuses it.</item>
/// <item>NUL, a lone CR and any other control character in a value get a clean 502 (flag <c>UPE</c>), counted per
/// cluster; in a trailer, the client's response is reset instead (it has started).</item>
/// </list>
/// Other requests through the proxy are served throughout.
/// </summary>
public sealed class UpstreamHeaderInjectionTests : IAsyncLifetime
{
    private const string Head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n";
    private const string ChunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nok\r\n0\r\n";

    private static readonly Dictionary<string, string> Answers = new()
    {
        ["clean"] = Head + "\r\nok",
        ["bare-lf"] = Head + "X-Evil: a\nSet-Cookie: stolen=1\r\n\r\nok",
        ["bare-lf-only"] = "HTTP/1.1 200 OK\nContent-Length: 2\nX-Evil: a\nConnection: close\n\nok",
        ["bare-cr"] = Head + "X-Evil: a\rSet-Cookie: stolen=1\r\n\r\nok",
        ["nul"] = Head + "X-Evil: a\0Set-Cookie: stolen=1\r\n\r\nok",
        ["control"] = Head + "X-Evil: a\u0001Set-Cookie: stolen=1\r\n\r\nok",
        ["escape"] = Head + "X-Evil: a\u001bSet-Cookie: stolen=1\r\n\r\nok",
        ["delete"] = Head + "X-Evil: a\u007fSet-Cookie: stolen=1\r\n\r\nok",
        ["lf-content-length"] = Head + "X-Evil: a\nContent-Length: 5\r\n\r\noksmuggled",
        ["lf-transfer-encoding"] = Head + "X-Evil: a\nTransfer-Encoding: chunked\r\n\r\n8\r\nsmuggled\r\n0\r\n\r\n",
        ["listed-content-length"] = "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nConnection: close\r\n\r\nok",
        ["trailer-clean"] = ChunkedHead + "X-Checksum: fine\r\n\r\n",
        ["trailer-bare-lf"] = ChunkedHead + "X-Checksum: a\nX-Injected: b\r\n\r\n",
        ["trailer-bare-cr"] = ChunkedHead + "X-Checksum: a\rX-Injected: b\r\n\r\n",
        ["trailer-nul"] = ChunkedHead + "X-Checksum: a\0b\r\n\r\n",
        ["trailer-control"] = ChunkedHead + "X-Checksum: a\u0001b\r\n\r\n",
    };

    private TcpPeer _upstream = null!;
    private Backend _good = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _upstream = TcpPeer.Start(AnswerAsync);
        _good = await Backend.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")));
        _proxy = await RunningProxy.StartAsync(new ProxyConfig()
            .Cluster("raw", $"http://127.0.0.1:{_upstream.Port}")
            .Cluster("good", _good.Address)
            .Route("raw", "raw", "/raw/{**rest}")
            .Route("good", "good", "/good/{**rest}"));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _good.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    /// <summary>Answers <c>/raw/&lt;case&gt;</c> with that case's bytes, then closes.</summary>
    private static async Task AnswerAsync(Socket socket, CancellationToken cancellationToken)
    {
        var request = new StringBuilder();
        var buffer = new byte[4096];
        while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return;
            }

            request.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }

        var path = request.ToString().Split(' ')[1];
        var answer = Answers.GetValueOrDefault(path["/raw/".Length..], Answers["clean"]);
        await TcpPeer.SendAllAsync(socket, Encoding.Latin1.GetBytes(answer), cancellationToken);
        socket.Shutdown(SocketShutdown.Send);
    }

    /// <returns>Everything the proxy sent back, as Latin-1 text.</returns>
    private async Task<string> SendRawAsync(string path)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(_proxy.Ingress.Host, _proxy.Ingress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes($"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new MemoryStream();
        await stream.CopyToAsync(received, timeout.Token);
        return Encoding.Latin1.GetString(received.ToArray());
    }

    /// <returns>The response head's lines, after checking that each ends with CRLF and none holds a raw CR or LF.</returns>
    private static string[] CrlfFramedHeadLines(string response)
    {
        var end = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, response);
        var lines = response[..end].Split("\r\n");
        Assert.All(lines, line => Assert.False(line.AsSpan().ContainsAny('\r', '\n'), $"raw CR or LF in '{line}'"));
        Assert.All(lines, line => Assert.DoesNotContain('\0', line));
        return lines;
    }

    private Task<double> ProtocolErrorsAsync() =>
        MetricsScrape.ValueAsync(_proxy, "proxymesh_upstream_cx_protocol_error_total", "cluster=\"raw\"");

    private async Task AnotherRequestIsServedAsync()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        Assert.Equal("ok", await client.GetStringAsync("/good/fine"));
    }

    [Theory]
    [InlineData("bare-cr")]
    [InlineData("nul")]
    [InlineData("control")]
    [InlineData("escape")]
    [InlineData("delete")]
    public async Task A_control_character_in_an_upstream_header_gets_a_counted_502(string injection)
    {
        var before = await ProtocolErrorsAsync();

        var response = await SendRawAsync($"/raw/{injection}");

        Assert.True(response.StartsWith("HTTP/1.1 502", StringComparison.Ordinal), response);
        Assert.DoesNotContain("stolen", response, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("X-Evil", response, StringComparison.OrdinalIgnoreCase);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_cx_protocol_error_total", "cluster=\"raw\"", before + 1);
        await AnotherRequestIsServedAsync();
    }

    [Fact]
    public async Task A_bare_LF_ends_the_header_line_and_the_client_gets_both_lines_as_CRLF_framed_headers()
    {
        var before = await ProtocolErrorsAsync();

        var lines = CrlfFramedHeadLines(await SendRawAsync("/raw/bare-lf"));

        Assert.StartsWith("HTTP/1.1 200", lines[0], StringComparison.Ordinal);
        Assert.Contains("X-Evil: a", lines);
        Assert.Contains("Set-Cookie: stolen=1", lines);
        Assert.Equal(before, await ProtocolErrorsAsync());
        await AnotherRequestIsServedAsync();
    }

    [Fact]
    public async Task A_head_framed_with_bare_LFs_only_reaches_the_client_CRLF_framed()
    {
        var response = await SendRawAsync("/raw/bare-lf-only");

        var lines = CrlfFramedHeadLines(response);
        Assert.StartsWith("HTTP/1.1 200", lines[0], StringComparison.Ordinal);
        Assert.Contains("X-Evil: a", lines);
        Assert.EndsWith("\r\n\r\nok", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_h2c_client_gets_the_lines_split_at_a_bare_LF_as_two_headers_without_CR_or_LF()
    {
        using var client = Clients.H2c(_proxy.Ingress);
        using var response = await client.GetAsync("/raw/bare-lf");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["a"], response.Headers.NonValidated["X-Evil"]);
        Assert.Equal(["stolen=1"], response.Headers.NonValidated["Set-Cookie"]);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// A second Content-Length (conflicting, or as a list) or a Transfer-Encoding beside Content-Length, here hidden after
    /// a bare LF: Envoy refuses each (Balsa's <c>disallow_multiple_content_length</c>, <c>allow_chunked_length: false</c>).
    /// Before, the first got a 502 flagged <c>UR</c> with a stack trace per request (Kestrel refused the header), and the
    /// second passed with the upstream's chunked body.
    /// </summary>
    [Theory]
    [InlineData("lf-content-length")]
    [InlineData("lf-transfer-encoding")]
    [InlineData("listed-content-length")]
    public async Task A_framing_header_smuggled_after_a_bare_LF_gets_a_counted_502(string injection)
    {
        var before = await ProtocolErrorsAsync();

        var response = await SendRawAsync($"/raw/{injection}");

        Assert.True(response.StartsWith("HTTP/1.1 502", StringComparison.Ordinal), response);
        Assert.DoesNotContain("smuggled", response, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Evil", response, StringComparison.OrdinalIgnoreCase);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_cx_protocol_error_total", "cluster=\"raw\"", before + 1);
        await AnotherRequestIsServedAsync();
    }

    [Fact]
    public async Task Chunked_trailers_reach_an_h2c_client_and_a_bare_LF_splits_them_as_in_headers()
    {
        using var client = Clients.H2c(_proxy.Ingress);
        foreach (var (path, expected) in new[] { ("trailer-clean", ("X-Checksum", "fine")), ("trailer-bare-lf", ("X-Injected", "b")) })
        {
            using var response = await client.GetAsync($"/raw/{path}");

            Assert.Equal("ok", await response.Content.ReadAsStringAsync());
            Assert.Equal([expected.Item2], response.TrailingHeaders.NonValidated[expected.Item1]);
            Assert.All(response.TrailingHeaders.NonValidated, field => Assert.False(field.Value.ToString().AsSpan().ContainsAny('\r', '\n', '\0')));
        }
    }

    /// <summary>
    /// Before, Kestrel refused the trailer while YARP copied it: the stream was reset too, but flagged as a success, and
    /// Kestrel logged an unhandled exception on every request; a CR or NUL reached the client as a space.
    /// </summary>
    [Theory]
    [InlineData("trailer-bare-cr")]
    [InlineData("trailer-nul")]
    [InlineData("trailer-control")]
    public async Task A_control_character_in_a_chunked_trailer_resets_the_h2c_clients_response_and_is_counted(string injection)
    {
        var before = await ProtocolErrorsAsync();
        using var client = Clients.H2c(_proxy.Ingress);

        await Assert.ThrowsAnyAsync<HttpRequestException>(async () =>
        {
            using var response = await client.GetAsync($"/raw/{injection}");
            await response.Content.ReadAsStringAsync();
        });

        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_cx_protocol_error_total", "cluster=\"raw\"", before + 1);
        Assert.Equal("ok", await client.GetStringAsync("/good/fine"));
    }

    [Fact]
    public async Task A_clean_answer_from_the_same_upstream_passes()
    {
        var response = await SendRawAsync("/raw/clean");

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.EndsWith("ok", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Curl_sees_a_502_and_no_injected_cookie()
    {
        var (exitCode, output) = await Curl.RunAsync("-i", new Uri(_proxy.Ingress, "/raw/control").ToString());

        Assert.True(exitCode == 0, output);
        Assert.True(output.StartsWith("HTTP/1.1 502", StringComparison.Ordinal), output);
        Assert.DoesNotContain("stolen", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Curl_gets_the_lines_split_at_a_bare_LF_as_CRLF_framed_headers()
    {
        var (exitCode, output) = await Curl.RunAsync("-i", new Uri(_proxy.Ingress, "/raw/bare-lf").ToString());

        Assert.True(exitCode == 0, output);
        var lines = CrlfFramedHeadLines(output);
        Assert.Contains("X-Evil: a", lines);
        Assert.Contains("Set-Cookie: stolen=1", lines);
    }
}
