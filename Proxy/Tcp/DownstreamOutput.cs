using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using ProxyMesh.Proxy.Tcp.Transport;
using System.Net.Sockets;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Where upstream bytes go: received straight into this buffer, then sent downstream without another copy.
/// </summary>
internal abstract class DownstreamOutput : IDisposable
{
    /// <summary>A buffer to receive the next upstream bytes into.</summary>
    public abstract Memory<byte> GetMemory();

    /// <summary>Sends the first <paramref name="count"/> bytes of the last <see cref="GetMemory"/> buffer.</summary>
    public abstract ValueTask SendAsync(int count, CancellationToken cancellationToken);

    /// <summary>Half-close: the upstream is done sending.</summary>
    public abstract ValueTask ShutdownSendAsync();

    public virtual void Dispose()
    {
    }

    /// <summary>
    /// The client's socket itself. Kestrel's socket transport closes the whole socket when its output pipe completes,
    /// so half-closing needs the socket: the proxy writes to it directly (Kestrel's output pipe stays empty) and shuts
    /// down its sending side alone, while Kestrel keeps reading the client's bytes.
    /// </summary>
    public sealed class Socket(System.Net.Sockets.Socket socket) : DownstreamOutput
    {
        private const int BufferSize = 64 * 1024;
        private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);

        public override Memory<byte> GetMemory() => _buffer;

        public override async ValueTask SendAsync(int count, CancellationToken cancellationToken)
        {
            var remaining = _buffer.AsMemory(0, count);
            while (!remaining.IsEmpty)
            {
                var sent = await socket.SendAsync(remaining, SocketFlags.None, cancellationToken);
                remaining = remaining[sent..];
            }
        }

        public override ValueTask ShutdownSendAsync()
        {
            socket.Shutdown(SocketShutdown.Send);
            return ValueTask.CompletedTask;
        }

        public override void Dispose()
        {
            if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            base.Dispose();
        }
    }

    /// <summary>
    /// The connection's output pipe, for connections Kestrel wraps (TLS termination): bytes are received into the
    /// pipe's own memory. On ProxyMesh's own transport a half-close is TLS's: close_notify, then a FIN, while the
    /// client's bytes still flow (TLS 1.3 lets each side close its writing side alone, RFC 8446 §6.1). On Kestrel's
    /// socket transport, which closes the whole socket when its output completes, it ends the connection.
    /// </summary>
    public sealed class Pipe(PipeWriter output, SslStream? tls, ITcpHalfCloseFeature? halfClose) : DownstreamOutput
    {
        private const int MinimumSize = 16 * 1024;

        public override Memory<byte> GetMemory() => output.GetMemory(MinimumSize);

        public override async ValueTask SendAsync(int count, CancellationToken cancellationToken)
        {
            output.Advance(count);
            await output.FlushAsync(cancellationToken);
        }

        public override async ValueTask ShutdownSendAsync()
        {
            if (tls is null || halfClose is null)
            {
                await output.CompleteAsync();
                return;
            }

            // Every byte written is already in the TLS stream (each send waited for its flush): close_notify follows them.
            await tls.ShutdownAsync();
            await halfClose.ShutdownSendAsync();
        }
    }
}
