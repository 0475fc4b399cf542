using System.Net;

namespace ProxyMesh.Proxy.Tcp.Transport;

/// <summary>
/// The address of a <c>tcp://</c> listener: its own type so that <see cref="TcpSocketTransportFactory"/>, and not
/// Kestrel's socket transport, binds it (Kestrel asks each transport factory whether it can bind an endpoint).
/// </summary>
internal sealed class TcpListenerEndPoint(IPAddress address, int port, TcpTransportOptions options, bool inlineCompletions) : IPEndPoint(address, port)
{
    public TcpTransportOptions Options { get; } = options;

    /// <summary>Accepted sockets complete on the socket engine's event thread (plain listeners only: a TLS handshake is too long to run there).</summary>
    public bool InlineCompletions { get; } = inlineCompletions;
}
