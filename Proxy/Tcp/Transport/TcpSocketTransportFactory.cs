using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace ProxyMesh.Proxy.Tcp.Transport;

/// <summary>
/// Kestrel transport for <c>tcp://</c> listeners only (it binds <see cref="TcpListenerEndPoint"/>s; every other endpoint
/// goes to Kestrel's socket transport). Connections still run through Kestrel's connection pipeline (stats, TLS,
/// graceful shutdown, then <see cref="TcpProxy"/>), but are read by <see cref="TcpSocketConnection"/>: large receives
/// and no scheduler hop between the socket and the relay.
/// </summary>
internal sealed class TcpSocketTransportFactory(ILoggerFactory loggers) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is TcpListenerEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var address = (TcpListenerEndPoint)endpoint;
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(address.Address, address.Port));
            socket.Listen(512);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException(e.Message, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return ValueTask.FromResult<IConnectionListener>(new Listener(socket, address, loggers.CreateLogger<TcpSocketConnection>()));
    }

    private sealed class Listener(Socket socket, TcpListenerEndPoint address, ILogger logger) : IConnectionListener
    {
        public EndPoint EndPoint { get; } = socket.LocalEndPoint!;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                try
                {
                    var accepted = await socket.AcceptAsync(cancellationToken);
                    accepted.NoDelay = true;
                    var inline = address.InlineCompletions && InlineSocketCompletions.Enable(accepted);
                    return TcpSocketConnection.Start(accepted, address.Options, inline, logger);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
                {
                    // A client that reset before it was accepted: take the next one.
                }
                catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException
                                          || e is SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted })
                {
                    return null; // Unbound.
                }
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
