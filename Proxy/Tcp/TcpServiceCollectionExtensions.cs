using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Tcp.Transport;

namespace ProxyMesh.Proxy.Tcp;

public static class TcpServiceCollectionExtensions
{
    /// <summary>
    /// TCP proxy listeners (<c>tcp://</c> URLs) after Envoy's tcp_proxy, with the network filters registered as
    /// <see cref="ITcpFilterFactory"/>.
    /// </summary>
    public static IServiceCollection AddProxyMeshTcp(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IConfigurationValidator, TcpConfigValidator>();
        services.AddSingleton<TcpProxyStats>();
        services.AddSingleton<TcpListenerSettings>();
        services.AddSingleton<TcpUpstreamConnector>();
        services.AddSingleton<TcpDrain>();
        services.AddSingleton<TcpProxy>();
        services.AddSingleton<IConfigureOptions<KestrelServerOptions>, TcpListenerSetup>();

        // Registered after Kestrel's socket transport, so Kestrel asks it first; it binds tcp:// listeners only.
        services.AddSingleton<IConnectionListenerFactory, TcpSocketTransportFactory>();
        services.AddOptions<TcpTransportOptions>().BindConfiguration(TcpTransportOptions.SectionName);

        // Kestrel's socket transport (HTTP listeners, and TCP listeners with TcpTransport:UseKestrel).
        services.AddOptions<SocketTransportOptions>().BindConfiguration($"{ProxyMeshOptions.SectionName}:SocketTransport");
        return services;
    }
}
