using System.Net;
using System.Net.WebSockets;
using Grpc.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Bench.SideBySide;
using ProxyMesh.Proxy.Tests.Grpc;

namespace ProxyMesh.Bench.Soak;

/// <summary>
/// The upstreams, real Kestrel servers in the harness process on 127.0.0.1 free ports: an HTTP/1.1 server (small
/// answers, an echo, a WebSocket echo) and an h2c server (small answers and the gRPC Echo service, whose
/// server-streaming call the soak drives). <c>/variant-b/…</c> answers "B": the reloaded cluster's destination.
/// </summary>
internal sealed class Backends : IAsyncDisposable
{
    private readonly WebApplication app;

    private Backends(WebApplication app, int http1Port, int h2cPort)
    {
        this.app = app;
        Http1Port = http1Port;
        H2cPort = h2cPort;
    }

    public int Http1Port { get; }

    public int H2cPort { get; }

    public static async Task<Backends> StartAsync()
    {
        var http1Port = ChildProcess.FreePort();
        var h2cPort = ChildProcess.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, http1Port, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.Listen(IPAddress.Loopback, h2cPort, listen => listen.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.UseWebSockets();
        app.MapGet("/small", () => "ok");
        app.MapGet("/h2/small", () => "ok");
        app.MapGet("/alt/{**rest}", () => "A");
        app.MapGet("/variant-b/{**rest}", () => "B");
        app.MapPost("/echo", async context =>
        {
            context.Response.ContentType = "application/octet-stream";
            await context.Request.Body.CopyToAsync(context.Response.Body);
        });
        app.Map("/ws", EchoWebSocketAsync);
        app.MapGrpcService<EchoService>();
        Console.WriteLine($"backends: HTTP/1.1 127.0.0.1:{http1Port}, h2c 127.0.0.1:{h2cPort}");
        await app.StartAsync();
        return new Backends(app, http1Port, h2cPort);
    }

    private static async Task EchoWebSocketAsync(HttpContext context)
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
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
                return;
            }

            await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    /// <summary>Server streaming: <c>count</c> replies echoing the message.</summary>
    private sealed class EchoService : Echo.EchoBase
    {
        public override async Task ServerStream(EchoRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
        {
            for (var i = 0; i < request.Count; i++)
            {
                await responseStream.WriteAsync(new EchoReply { Message = request.Message, DeadlineSeconds = -1 });
            }
        }

        public override Task<EchoReply> Unary(EchoRequest request, ServerCallContext context) =>
            Task.FromResult(new EchoReply { Message = request.Message, DeadlineSeconds = -1 });
    }
}
