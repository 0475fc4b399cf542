using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Hostile HTTP/1.1 over raw sockets: each gets a clear status or a clean close, reaches the upstream only as the
/// proxy parsed it (no request smuggled past the proxy's framing), and a well-behaved client on another connection is
/// served throughout.
/// </summary>
public sealed class HostileHttp1Tests : IAsyncLifetime
{
    private readonly ConcurrentQueue<string> _upstreamSaw = new();
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            _upstreamSaw.Enqueue($"{context.Request.Method} {context.Request.Path} body={body.Length} id={context.Request.Headers["x-request-id"]}");
            if (context.Request.Path == "/inject")
            {
                // An upstream trying to split the response: Kestrel refuses to write a CR/LF in a header value.
                context.Response.Headers["x-evil"] = "a\r\nSet-Cookie: stolen=1";
            }

            await context.Response.WriteAsync("ok");
        }));
        _proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app"));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    /// <summary>
    /// Sends raw bytes and returns what came back: read until the proxy closes the connection, or, once an answer has
    /// started, until it pauses (a kept-alive connection stays open after a good answer).
    /// </summary>
    private async Task<string> SendRawAsync(string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(_proxy.Ingress.Host, _proxy.Ingress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                using var wait = new CancellationTokenSource(received.Length == 0 ? TimeSpan.FromSeconds(15) : TimeSpan.FromSeconds(1));
                var read = await stream.ReadAsync(buffer, wait.Token);
                if (read == 0)
                {
                    break;
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // Reset, or kept open: what arrived is the answer.
        }

        return Encoding.Latin1.GetString(received.ToArray());
    }

    private static string StatusLine(string response) => response.Split("\r\n")[0];

    /// <summary>The response's status is one of <paramref name="allowed"/> (or, when empty is allowed, the connection was closed with no answer).</summary>
    private static void AssertStatus(string response, params string[] allowed)
    {
        var status = response.Length == 0 ? "" : StatusLine(response).Length >= 12 ? StatusLine(response)[9..12] : StatusLine(response);
        Assert.True(allowed.Contains(status), $"expected {string.Join(" or ", allowed)}, got: {response[..Math.Min(response.Length, 400)]}");
    }

    private async Task AWellBehavedClientIsServedAsync()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        Assert.Equal("ok", await client.GetStringAsync("/fine"));
    }

    private void UpstreamNeverSaw(string path) => Assert.DoesNotContain(_upstreamSaw, seen => seen.Contains(path, StringComparison.Ordinal));

    [Theory]
    [InlineData("Content-Length: 4\r\nTransfer-Encoding: chunked")]
    [InlineData("Transfer-Encoding: chunked\r\nContent-Length: 4")]
    public async Task Content_length_with_transfer_encoding_smuggles_nothing(string framing)
    {
        var response = await SendRawAsync(
            $"POST /first HTTP/1.1\r\nHost: a\r\n{framing}\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");

        // RFC 9112 6.1: chunked wins over Content-Length, and the connection closes after the answer, so the bytes
        // after the chunked body are never read as a second request.
        AssertStatus(response, "200");
        Assert.Contains("Connection: close", response, StringComparison.OrdinalIgnoreCase);
        Assert.Single(_upstreamSaw, seen => seen.StartsWith("POST /first body=0 ", StringComparison.Ordinal));
        UpstreamNeverSaw("/smuggled");
        await AWellBehavedClientIsServedAsync();
    }

    [Theory]
    [InlineData("Content-Length: 3\r\nContent-Length: 30", "conflicting lengths")]
    [InlineData("Content-Length: 3, 30", "a list of lengths")]
    [InlineData("Content-Length: -3", "a negative length")]
    [InlineData("Content-Length: 3 0", "a length with a space")]
    [InlineData("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity", "a second transfer coding after chunked")]
    [InlineData("X-Folded: a\r\n  folded", "an obs-fold continuation line")]
    [InlineData("X-Bad Header: a", "a space in a header name")]
    [InlineData("X-Nul: a\0b", "a NUL in a header value")]
    public async Task Malformed_framing_and_headers_are_refused_with_400(string headers, string what)
    {
        var response = await SendRawAsync($"POST /bad HTTP/1.1\r\nHost: a\r\n{headers}\r\n\r\nabc");

        Assert.NotNull(what);
        AssertStatus(response, "400");
        UpstreamNeverSaw("/bad");
        await AWellBehavedClientIsServedAsync();
    }

    /// <summary>Kestrel accepts bare LF by default (RFC 9112 allows it); the proxy turns that off, as front proxies may disagree.</summary>
    [Fact]
    public async Task Bare_LF_line_endings_are_refused()
    {
        var response = await SendRawAsync("GET /bare HTTP/1.1\nHost: a\n\n");

        AssertStatus(response, "400");
        UpstreamNeverSaw("/bare");
        await AWellBehavedClientIsServedAsync();
    }

    [Fact]
    public async Task A_chunk_size_that_overflows_is_refused()
    {
        var response = await SendRawAsync("POST /overflow HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n");

        AssertStatus(response, "", "400");
        UpstreamNeverSaw("body=3");
        await AWellBehavedClientIsServedAsync();
    }

    [Fact]
    public async Task An_oversized_request_line_gets_414_and_oversized_headers_431()
    {
        var longLine = await SendRawAsync($"GET /{new string('a', 9 * 1024)} HTTP/1.1\r\nHost: a\r\n\r\n");
        AssertStatus(longLine, "414");

        var bigHeaders = new StringBuilder("GET /big HTTP/1.1\r\nHost: a\r\n");
        for (var i = 0; i < 40; i++)
        {
            bigHeaders.Append(CultureInfoInvariant($"X-Filler-{i}: {new string('b', 1000)}\r\n"));
        }

        var tooBig = await SendRawAsync(bigHeaders.Append("\r\n").ToString());
        AssertStatus(tooBig, "431");
        UpstreamNeverSaw("/big");
        await AWellBehavedClientIsServedAsync();
    }

    private static string CultureInfoInvariant(FormattableString text) => FormattableString.Invariant(text);

    [Fact]
    public async Task A_body_over_the_limit_gets_413_before_reaching_the_upstream()
    {
        var response = await SendRawAsync("POST /huge HTTP/1.1\r\nHost: a\r\nContent-Length: 40000000\r\n\r\nabc");

        AssertStatus(response, "413");
        UpstreamNeverSaw("/huge");
        await AWellBehavedClientIsServedAsync();
    }

    [Theory]
    [InlineData("G@T / HTTP/1.1", "an invalid method")]
    [InlineData("GET nopath HTTP/1.1", "a target that is not a path")]
    [InlineData("GET /a b HTTP/1.1", "a space in the target")]
    [InlineData("GET / HTTP/1.7", "an unknown version")]
    public async Task Invalid_request_lines_are_refused_with_a_4xx_or_505(string requestLine, string what)
    {
        var response = await SendRawAsync($"{requestLine}\r\nHost: a\r\n\r\n");

        Assert.NotNull(what);
        AssertStatus(response, "400", "405", "505");
        await AWellBehavedClientIsServedAsync();
    }

    [Fact]
    public async Task An_absolute_form_target_whose_authority_differs_from_host_is_refused()
    {
        var response = await SendRawAsync("GET http://elsewhere.example/abs HTTP/1.1\r\nHost: a\r\n\r\n");

        AssertStatus(response, "400");
        UpstreamNeverSaw("/abs");
        await AWellBehavedClientIsServedAsync();
    }

    [Fact]
    public async Task Connection_naming_the_request_id_does_not_strip_it()
    {
        var response = await SendRawAsync("GET /named HTTP/1.1\r\nHost: a\r\nConnection: x-request-id\r\nx-request-id: 11111111-2222-3333-4444-555555555555\r\n\r\n");

        AssertStatus(response, "200");
        var returned = response.Split("\r\n").Single(line => line.StartsWith("x-request-id:", StringComparison.OrdinalIgnoreCase))["x-request-id:".Length..].Trim();
        Assert.Contains(_upstreamSaw, seen => seen.StartsWith("GET /named", StringComparison.Ordinal) && seen.EndsWith($"id={returned}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_upstream_header_with_CR_LF_never_reaches_the_client_as_a_second_header()
    {
        var response = await SendRawAsync("GET /inject HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.DoesNotContain("Set-Cookie: stolen", response, StringComparison.OrdinalIgnoreCase);
        await AWellBehavedClientIsServedAsync();
    }
}
