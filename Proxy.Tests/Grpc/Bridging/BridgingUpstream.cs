using System.Collections.Concurrent;
using System.Net;
using Grpc.Net.Client;
using Grpc.Net.Client.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>
/// The Echo service on a real h2c upstream that accepts 16 MB messages and records, per call, the request headers the
/// proxy sent it (to prove the bridges forward plain gRPC with <c>te: trailers</c>).
/// </summary>
public sealed class BridgingUpstream : IAsyncDisposable
{
    public const int MaxMessageSize = 16 * 1024 * 1024;

    private BridgingUpstream(Backend backend) => Backend = backend;

    public Backend Backend { get; }

    public string Address => Backend.Address;

    /// <summary>Headers of the last call per <c>x-test-call</c> request header.</summary>
    public ConcurrentDictionary<string, IHeaderDictionary> Seen { get; } = new();

    public static async Task<BridgingUpstream> StartAsync()
    {
        BridgingUpstream? upstream = null;
        var backend = await Backend.StartAsync(
            app =>
            {
                app.Use(async (context, next) =>
                {
                    if (context.Request.Headers.TryGetValue("x-test-call", out var call))
                    {
                        upstream!.Seen[call.ToString()] = new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase))
                        {
                            ["x-seen-protocol"] = context.Request.Protocol,
                        };
                    }

                    await next(context);
                });
                app.MapGrpcService<EchoService>();
            },
            HttpProtocols.Http2,
            services => services
                .AddGrpc(options =>
                {
                    options.MaxReceiveMessageSize = MaxMessageSize;
                    options.MaxSendMessageSize = MaxMessageSize;
                })
                .Services.AddSingleton(new CancellationObserver()));
        upstream = new BridgingUpstream(backend);
        return upstream;
    }

    /// <summary>A gRPC-Web channel (Grpc.Net.Client.Web) to the proxy in the given mode and HTTP version.</summary>
    public static GrpcChannel WebChannel(Uri proxy, GrpcWebMode mode, Version httpVersion, VersionRecorder? versions = null)
    {
        HttpMessageHandler inner = new SocketsHttpHandler { UseProxy = false };
        if (versions is not null)
        {
            versions.InnerHandler = inner;
            inner = versions;
        }

        return GrpcChannel.ForAddress(proxy, new GrpcChannelOptions
        {
            HttpHandler = new GrpcWebHandler(mode, inner),
            HttpVersion = httpVersion,
            HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact, // HTTP/2 means h2c with prior knowledge
            MaxReceiveMessageSize = MaxMessageSize,
            MaxSendMessageSize = MaxMessageSize,
        });
    }

    public ValueTask DisposeAsync() => Backend.DisposeAsync();
}

/// <summary>Records the HTTP version each response actually arrived with.</summary>
public sealed class VersionRecorder : DelegatingHandler
{
    public ConcurrentBag<Version> Versions { get; } = [];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        Versions.Add(response.Version);
        return response;
    }
}
