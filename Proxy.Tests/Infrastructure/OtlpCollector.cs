using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Otlp;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// An OTLP trace collector that keeps every span: a real gRPC server implementing <c>TraceService/Export</c>, or
/// (<see cref="StartHttpAsync"/>) OTLP/HTTP with protobuf bodies on <c>POST /v1/traces</c>.
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly Backend _server;

    private OtlpCollector(Backend server, ConcurrentQueue<Span> spans)
    {
        _server = server;
        Spans = spans;
    }

    public ConcurrentQueue<Span> Spans { get; }

    public string Address => _server.Address;

    public static async Task<OtlpCollector> StartAsync()
    {
        var spans = new ConcurrentQueue<Span>();
        var server = await Backend.StartAsync(
            app => app.MapGrpcService<Receiver>(),
            HttpProtocols.Http2,
            services => services.AddGrpc().Services.AddSingleton(spans));
        return new OtlpCollector(server, spans);
    }

    /// <summary>OTLP/HTTP (<c>http/protobuf</c>) over HTTP/1.1: export to <see cref="Address"/> + <c>/v1/traces</c>.</summary>
    public static async Task<OtlpCollector> StartHttpAsync()
    {
        var spans = new ConcurrentQueue<Span>();
        var server = await Backend.StartAsync(
            app => app.MapPost("/v1/traces", async context =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                Keep(ExportTraceServiceRequest.Parser.ParseFrom(body.ToArray()), spans);
                context.Response.ContentType = "application/x-protobuf";
                await context.Response.Body.WriteAsync(Google.Protobuf.MessageExtensions.ToByteArray(new ExportTraceServiceResponse()));
            }),
            HttpProtocols.Http1);
        return new OtlpCollector(server, spans);
    }

    private static void Keep(ExportTraceServiceRequest request, ConcurrentQueue<Span> spans)
    {
        foreach (var span in request.ResourceSpans.SelectMany(resource => resource.ScopeSpans).SelectMany(scope => scope.Spans))
        {
            spans.Enqueue(span);
        }
    }

    public static string Attribute(Span span, string key) =>
        span.Attributes.FirstOrDefault(attribute => attribute.Key == key)?.Value?.StringValue ?? "";

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private sealed class Receiver(ConcurrentQueue<Span> spans) : TraceService.TraceServiceBase
    {
        public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            Keep(request, spans);
            return Task.FromResult(new ExportTraceServiceResponse());
        }
    }
}
