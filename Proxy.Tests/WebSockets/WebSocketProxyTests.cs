using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.WebSockets;

/// <summary>WebSocket upgrades pass through the proxy, over HTTP/1.1 and over h2c (RFC 8441 extended CONNECT).</summary>
public sealed class WebSocketProxyTests : IAsyncLifetime
{
    private Backend _upstream = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _upstream = await Backend.StartAsync(app =>
        {
            app.UseWebSockets();
            app.Run(async context =>
            {
                if (!context.WebSockets.IsWebSocketRequest)
                {
                    context.Response.StatusCode = StatusCodes.Status400BadRequest;
                    return;
                }

                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[4096];
                while (true)
                {
                    var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
                }
            });
        });
        _proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("ws", _upstream.Address).Route("ws", "ws"));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Fact]
    public async Task Http1_websocket_echoes_through_the_proxy()
    {
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(WebSocketUri(), CancellationToken.None);
        await AssertEchoesAsync(socket);
    }

    [Fact]
    public async Task Http2_websocket_echoes_through_the_proxy()
    {
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        await socket.ConnectAsync(WebSocketUri(), invoker, CancellationToken.None);
        await AssertEchoesAsync(socket);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_websocket_outlives_the_route_timeout_and_ends_after_the_stream_idle_timeout(bool http2)
    {
        var config = new ProxyConfig().Cluster("ws", _upstream.Address).Route("ws", "ws");
        config.Root["ProxyMesh"]!["Defaults"] = new System.Text.Json.Nodes.JsonObject
        {
            ["Timeouts"] = new System.Text.Json.Nodes.JsonObject { ["Route"] = "00:00:00.300", ["StreamIdle"] = "00:00:02" },
        };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var socket = new ClientWebSocket();
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        if (http2)
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        await socket.ConnectAsync(new UriBuilder(proxy.Ingress) { Scheme = "ws", Path = "/chat" }.Uri, invoker, CancellationToken.None);
        await EchoAsync(socket, "before");

        // Quiet for longer than the route timeout, within the idle timeout: the socket lives on.
        await Task.Delay(TimeSpan.FromSeconds(1));
        await EchoAsync(socket, "after");

        // Quiet for longer than the idle timeout: the proxy ends it.
        var ended = false;
        try
        {
            var received = await socket.ReceiveAsync(new byte[16], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            ended = received.MessageType == WebSocketMessageType.Close;
        }
        catch (WebSocketException)
        {
            ended = true;
        }

        Assert.True(ended, "the idle websocket was not ended");
    }

    private static async Task EchoAsync(ClientWebSocket socket, string text)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        var buffer = new byte[64];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal(text, Encoding.UTF8.GetString(buffer, 0, result.Count));
    }

    private Uri WebSocketUri() => new UriBuilder(_proxy.Ingress) { Scheme = "ws", Path = "/chat" }.Uri;

    private static async Task AssertEchoesAsync(ClientWebSocket socket)
    {
        foreach (var text in new[] { "hello", new string('w', 3000) })
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            var buffer = new byte[8192];
            var received = 0;
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(new ArraySegment<byte>(buffer, received, buffer.Length - received), CancellationToken.None);
                received += result.Count;
            }
            while (!result.EndOfMessage);

            Assert.Equal(text, Encoding.UTF8.GetString(buffer, 0, received));
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }
}
