using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc;

/// <summary>The test Echo service on a real h2c upstream, and a client channel to a proxy.</summary>
public static class EchoUpstream
{
    public static Task<Backend> StartAsync(CancellationObserver? cancellations = null) =>
        Backend.StartAsync(
            app => app.MapGrpcService<EchoService>(),
            HttpProtocols.Http2,
            services => services.AddGrpc().Services.AddSingleton(cancellations ?? new CancellationObserver()));

    public static GrpcChannel Channel(Uri proxy) =>
        GrpcChannel.ForAddress(proxy, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { UseProxy = false } });
}
