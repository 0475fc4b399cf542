using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Tls;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Binds Kestrel to each <c>tcp://</c> listener with its own connection pipeline: the listener's connection stats,
/// TLS termination when it has a certificate, then <see cref="TcpProxy"/> (no HTTP on these ports).
/// </summary>
internal sealed class TcpListenerSetup(IOptions<ProxyMeshOptions> options, BoundListeners bound, DownstreamStats stats, TcpProxy proxy)
    : IConfigureOptions<KestrelServerOptions>
{
    public void Configure(KestrelServerOptions kestrel)
    {
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

                listenOptions.Run(connection => proxy.HandleAsync(name, connection));
                bound.Add(name, "tcp", listenOptions);
            }

            if (address.IsLocalhost)
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
