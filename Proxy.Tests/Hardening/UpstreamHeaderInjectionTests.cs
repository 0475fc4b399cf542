using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// A raw-socket upstream whose response header values carry CR, NUL or other control characters. CR and NUL are
/// replaced by a space by .NET's HTTP client as it parses the response (RFC 9110 §5.5 allows exactly that or a
/// refusal), so the would-be second header stays inside the first one's value; any other control character gets a
/// clean 502 (flag <c>UPE</c>), counted per cluster. Either way the caller never receives an injected header, and other
/// requests through the proxy are served.
/// </summary>
public sealed class UpstreamHeaderInjectionTests : IAsyncLifetime
{
    private static readonly Dictionary<string, string> Injections = new()
    {
        ["bare-cr"] = "X-Evil: a\rSet-Cookie: stolen=1\r\n",
        ["nul"] = "X-Evil: a\0Set-Cookie: stolen=1\r\n",
        ["control"] = "X-Evil: a\u0001Set-Cookie: stolen=1\r\n",
        ["escape"] = "X-Evil: a\u001bSet-Cookie: stolen=1\r\n",
        ["delete"] = "X-Evil: a\u007fSet-Cookie: stolen=1\r\n",
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

    /// <summary>Answers <c>/raw/&lt;case&gt;</c> with a 200 whose headers carry that case's injection, then closes.</summary>
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
        var injection = Injections.GetValueOrDefault(path["/raw/".Length..], "");
        var response = $"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n{injection}\r\nok";
        await TcpPeer.SendAllAsync(socket, Encoding.Latin1.GetBytes(response), cancellationToken);
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

    [Theory]
    [InlineData("control")]
    [InlineData("escape")]
    [InlineData("delete")]
    public async Task A_control_character_in_an_upstream_header_gets_a_counted_502(string injection)
    {
        var before = await MetricsScrape.ValueAsync(_proxy, "proxymesh_upstream_cx_protocol_error_total", "cluster=\"raw\"");

        var response = await SendRawAsync($"/raw/{injection}");

        Assert.True(response.StartsWith("HTTP/1.1 502", StringComparison.Ordinal), response);
        Assert.DoesNotContain("stolen", response, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("X-Evil", response, StringComparison.OrdinalIgnoreCase);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_upstream_cx_protocol_error_total", "cluster=\"raw\"", before + 1);
        await AnotherRequestIsServedAsync();
    }

    [Theory]
    [InlineData("bare-cr")]
    [InlineData("nul")]
    public async Task A_CR_or_NUL_in_an_upstream_header_becomes_a_space_and_never_a_second_header(string injection)
    {
        var response = await SendRawAsync($"/raw/{injection}");

        var head = response[..response.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        var lines = head.Split("\r\n");
        Assert.StartsWith("HTTP/1.1 200", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain(lines, line => line.StartsWith("Set-Cookie", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("X-Evil: a Set-Cookie: stolen=1", lines);
        Assert.DoesNotContain('\0', head);
        Assert.DoesNotContain('\r', head.Replace("\r\n", "", StringComparison.Ordinal));
        await AnotherRequestIsServedAsync();
    }

    private async Task AnotherRequestIsServedAsync()
    {
        using var client = Clients.Http1(_proxy.Ingress);
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
}
