using System.Net;
using System.Net.Sockets;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>A raw TCP server on 127.0.0.1 and an ephemeral port; each accepted socket is handed to a script.</summary>
public sealed class TcpPeer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _accepted;

    private TcpPeer(Func<Socket, CancellationToken, Task> handle)
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accepting = AcceptAsync(handle);
    }

    public int Port { get; }

    /// <summary>The cluster destination address of this peer.</summary>
    public string TcpAddress => $"tcp://127.0.0.1:{Port}";

    public int Accepted => Volatile.Read(ref _accepted);

    public static TcpPeer Start(Func<Socket, CancellationToken, Task> handle) => new(handle);

    /// <summary>Echoes every byte back; on the client's FIN it finishes echoing and half-closes too.</summary>
    public static TcpPeer StartEcho() => Start(EchoAsync);

    public static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                break;
            }

            await SendAllAsync(socket, buffer.AsMemory(0, read), cancellationToken);
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    public static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        while (!data.IsEmpty)
        {
            data = data[await socket.SendAsync(data, SocketFlags.None, cancellationToken)..];
        }
    }

    /// <summary>Reads until the peer's FIN.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket, CancellationToken cancellationToken = default)
    {
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return received.ToArray();
            }

            received.Write(buffer, 0, read);
        }
    }

    /// <summary>A connected client socket to <paramref name="uri"/> (a <c>tcp://</c> listener address).</summary>
    public static async Task<Socket> ConnectAsync(Uri uri)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Parse(uri.Host), uri.Port);
        return socket;
    }

    private async Task AcceptAsync(Func<Socket, CancellationToken, Task> handle)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _ = Task.Run(async () =>
            {
                using (socket)
                {
                    try
                    {
                        await handle(socket, _stop.Token);
                    }
                    catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                        // The test ended the connection or the peer.
                    }
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        _stop.Dispose();
    }
}
