using System.Net;

namespace ProxyMesh.Proxy.Tcp.Transport;

/// <summary>
/// The address of a <c>tcp://</c> listener: its own type so that <see cref="TcpSocketTransportFactory"/>, and not
/// Kestrel's socket transport, binds it (Kestrel asks each transport factory whether it can bind an endpoint).
/// </summary>
internal sealed class TcpListenerEndPoint(IPAddress address, int port, TcpTransportOptions options) : IPEndPoint(address, port)
{
    public TcpTransportOptions Options { get; } = options;
}
