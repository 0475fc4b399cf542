using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Tcp.Transport;
using ProxyMesh.Proxy.Tls;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Binds Kestrel to each <c>tcp://</c> listener with its own connection pipeline: the listener's connection stats,
/// TLS termination when it has a certificate, then <see cref="TcpProxy"/> (no HTTP on these ports). The listener's
/// sockets are ProxyMesh's own transport (<see cref="TcpSocketTransportFactory"/>) unless
/// <c>ProxyMesh:TcpTransport:UseKestrel</c> asks for Kestrel's.
/// </summary>
/// <param name="services">Resolves the proxy at the first connection: it needs YARP's proxy state, which reads the
/// configuration and must not be built before the configuration gate has validated it (Kestrel is configured first).</param>
internal sealed class TcpListenerSetup(
    IOptions<ProxyMeshOptions> options,
    IOptions<TcpTransportOptions> transport,
    BoundListeners bound,
    DownstreamStats stats,
    IServiceProvider services)
    : IConfigureOptions<KestrelServerOptions>
{
    public void Configure(KestrelServerOptions kestrel)
    {
        var proxy = new Lazy<TcpProxy>(services.GetRequiredService<TcpProxy>);
        foreach (var (name, listener) in options.Value.Listeners)
        {
            if (!ListenerAddress.TryParse(listener.Url, out var address, out _, allowTcp: true) || !address!.IsTcp)
            {
                continue;
            }

            var key = $"{ProxyMeshOptions.SectionName}:Listeners:{name}";
            var feature = new ProxyListenerFeature(name, isAdmin: false);
            var series = stats.For(name);
            void Configure(ListenOptions listenOptions)
            {
                listenOptions.Use(next => async connection =>
                {
                    connection.Features.Set(feature);
                    series.Connections.Inc();
                    series.ActiveConnections.Inc();
                    try
                    {
                        await next(connection);
                    }
                    finally
                    {
                        series.ActiveConnections.Dec();
                    }
                });
                if (listener.TerminatesTls)
                {
                    ServerTls.Use(listenOptions, listener, key, applicationProtocols: null);
                }

                listenOptions.Run(connection => proxy.Value.HandleAsync(name, connection));
                bound.Add(name, "tcp", listenOptions);
            }

            if (!transport.Value.UseKestrel)
            {
                // Bound by TcpSocketTransportFactory. "localhost" is the IPv4 loopback; "*" every address, IPv4 and IPv6.
                var ip = address.IsLocalhost ? IPAddress.Loopback
                    : address.IsAnyAddress ? (Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any)
                    : address.IPAddress!;
                var inline = transport.Value.InlineCompletions && !listener.TerminatesTls;
                kestrel.Listen(new TcpListenerEndPoint(ip, address.Port, transport.Value, inline), Configure);
            }
            else if (address.IsLocalhost)
            {
                kestrel.ListenLocalhost(address.Port, Configure);
            }
            else if (address.IsAnyAddress)
            {
                kestrel.ListenAnyIP(address.Port, Configure);
            }
            else
            {
                kestrel.Listen(address.IPAddress!, address.Port, Configure);
            }
        }
    }
}
