using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>
/// The gRPC upstream of every target: a bare h2c Kestrel endpoint answering any unary call on <c>/bench.Bench/</c>
/// with one fixed message and <c>grpc-status: 0</c> in trailers (no protobuf code: the proxies only see frames).
/// </summary>
internal static class GrpcBackend
{
    public const string Mode = "grpc-backend";

    /// <summary>A gRPC message frame: uncompressed, 2 bytes (field 1 = 1).</summary>
    public static readonly byte[] Frame = [0, 0, 0, 0, 2, 0x08, 0x01];

    public static async Task RunAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapPost("/bench.Bench/{method}", async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.WriteAsync(Frame);
            context.Response.AppendTrailer("grpc-status", "0");
        });
        await app.RunAsync();
    }
}
