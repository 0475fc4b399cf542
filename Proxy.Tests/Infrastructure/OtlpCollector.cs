using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Otlp;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>An OTLP trace collector: a real gRPC server implementing <c>TraceService/Export</c> that keeps every span.</summary>
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

    public static string Attribute(Span span, string key) =>
        span.Attributes.FirstOrDefault(attribute => attribute.Key == key)?.Value?.StringValue ?? "";

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private sealed class Receiver(ConcurrentQueue<Span> spans) : TraceService.TraceServiceBase
    {
        public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            foreach (var span in request.ResourceSpans.SelectMany(resource => resource.ScopeSpans).SelectMany(scope => scope.Spans))
            {
                spans.Enqueue(span);
            }

            return Task.FromResult(new ExportTraceServiceResponse());
        }
    }
}
