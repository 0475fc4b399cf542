using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability;

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

        // Kestrel's socket transport (every listener): e.g. UnsafePreferInlineScheduling, which runs a relay's
        // continuations on the socket I/O threads instead of hopping to the thread pool for each read.
        services.AddOptions<SocketTransportOptions>().BindConfiguration($"{ProxyMeshOptions.SectionName}:SocketTransport");
        return services;
    }
}
