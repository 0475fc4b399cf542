using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Listeners;

/// <summary>Pins how same-port h2c detection drives Kestrel, and that requests see a plain cleartext connection.</summary>
public sealed class CleartextHttp2DetectionTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private Uri _uri = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => connection =>
                CleartextHttp2Detection.OnConnectionAsync(connection, next, TimeSpan.FromSeconds(5))));
        });
        _app = builder.Build();
        _app.Run(context => context.Response.WriteAsync(string.Join('|',
            context.Request.Protocol,
            context.Request.Scheme,
            context.Request.IsHttps,
            context.Features.Get<ITlsConnectionFeature>() is null,
            context.Features.Get<ITlsApplicationProtocolFeature>() is null,
            context.Features.Get<ITlsHandshakeFeature>() is null)));
        await _app.StartAsync();
        _uri = new Uri(_app.Urls.First());
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Http1_request_is_served_as_http1()
    {
        using var client = Clients.Http1(_uri);
        Assert.Equal("HTTP/1.1|http|False|True|True|True", await client.GetStringAsync("/"));
    }

    [Fact]
    public async Task Preface_connection_is_served_as_http2_with_no_trace_of_tls()
    {
        using var client = Clients.H2c(_uri);
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2|http|False|True|True|True", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Http1_and_h2c_clients_share_the_port_concurrently()
    {
        using var http1 = Clients.Http1(_uri);
        using var h2c = Clients.H2c(_uri);
        var calls = Enumerable.Range(0, 20).Select(i => (i % 2 == 0 ? http1 : h2c).GetStringAsync("/")).ToArray();
        var answers = await Task.WhenAll(calls);
        Assert.Equal(10, answers.Count(a => a.StartsWith("HTTP/1.1|", StringComparison.Ordinal)));
        Assert.Equal(10, answers.Count(a => a.StartsWith("HTTP/2|", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Fresh_h2c_connections_sending_preface_and_request_in_one_burst_are_all_served_as_plain_http2()
    {
        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var client = Clients.H2c(_uri);
            return await client.GetStringAsync("/");
        }));
        Assert.All(answers, answer => Assert.Equal("HTTP/2|http|False|True|True|True", answer));
    }

    [Fact]
    public async Task Preface_split_across_packets_is_still_detected()
    {
        // One segment per byte: Nagle off, and a pause between writes that the server must wait through (the gap
        // is what is tested: loopback delivers each segment long before the next is written, so the detector sees
        // the preface arrive a byte at a time and must not decide early).
        using var socket = new TcpClient { NoDelay = true };
        await socket.ConnectAsync(_uri.Host, _uri.Port);
        var stream = socket.GetStream();
        var preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
        for (var i = 0; i < preface.Length - 1; i++)
        {
            await stream.WriteAsync(preface.AsMemory(i, 1));
            await Task.Delay(20);
            Assert.Equal(0, socket.Available); // nothing answered on a partial preface
        }

        await stream.WriteAsync(preface.AsMemory(preface.Length - 1));

        await stream.WriteAsync(RawHttp2.Settings());

        var frame = await RawHttp2.ReadFrameAsync(stream);
        Assert.Equal(RawHttp2.SettingsType, frame.Type);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public async Task A_silent_client_is_closed_once_the_preface_timeout_passes(int prefaceBytesSent)
    {
        using var socket = new TcpClient { NoDelay = true };
        await socket.ConnectAsync(_uri.Host, _uri.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray().AsMemory(0, prefaceBytesSent));
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var read = await stream.ReadAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, read); // closed, nothing answered
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(30)); // by the 5 s timeout, not at once
    }

    [Fact]
    public async Task A_spoofed_https_scheme_on_a_cleartext_connection_is_refused()
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(_uri.Host, _uri.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        await stream.WriteAsync(RawHttp2.Settings());
        await stream.WriteAsync(RawHttp2.GetRequest(streamId: 1, scheme: "https", authority: "localhost", path: "/"));
        await stream.WriteAsync(RawHttp2.GetRequest(streamId: 3, scheme: "http", authority: "localhost", path: "/"));
        await stream.FlushAsync();

        var streams = await RawHttp2.ReadStreamsAsync(stream, 1, 3);
        Assert.Equal(1u, streams[1].ResetCode); // PROTOCOL_ERROR
        Assert.Null(streams[3].ResetCode);
        Assert.Equal("HTTP/2|http|False|True|True|True", Encoding.UTF8.GetString(streams[3].Body));
    }

    [Fact]
    public async Task Bytes_that_are_not_a_preface_go_to_http1()
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(_uri.Host, _uri.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync("PRIX / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        await stream.FlushAsync();
        var buffer = new byte[256];
        var read = await stream.ReadAsync(buffer);
        Assert.StartsWith("HTTP/1.1 ", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
    }
}
