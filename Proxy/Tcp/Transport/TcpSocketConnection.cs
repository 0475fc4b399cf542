using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Tcp.Transport;

/// <summary>
/// One accepted connection of a <c>tcp://</c> listener: a receive loop fills the input pipe with reads of up to
/// <see cref="TcpTransportOptions.ReceiveBufferSize"/> (Kestrel's socket transport reads 4 KB blocks), and a send loop
/// drains the output pipe. Both pipes schedule inline: the relay is the only reader and never blocks, so its
/// continuation runs on the thread that completed the receive instead of being queued (Kestrel's
/// <c>UnsafePreferInlineScheduling</c>, for these connections alone). Completing the output pipe sends a FIN and keeps
/// reading (<see cref="ITcpHalfCloseFeature"/>), so half-close works under TLS too.
/// </summary>
internal sealed partial class TcpSocketConnection : ConnectionContext, IConnectionSocketFeature, ITcpHalfCloseFeature
{
    private static long s_lastId;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly int _receiveSize;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private int _loopsRunning = 2;
    private int _closedSignalled;
    private volatile ConnectionAbortedException? _aborted;

    private TcpSocketConnection(Socket socket, TcpTransportOptions options, ILogger logger)
    {
        _socket = socket;
        _logger = logger;
        _receiveSize = options.ReceiveBufferSize;
        var pause = Math.Max(options.MaxReadBufferSize, options.ReceiveBufferSize);
        _input = new Pipe(new PipeOptions(
            minimumSegmentSize: options.ReceiveBufferSize,
            pauseWriterThreshold: pause,
            resumeWriterThreshold: pause / 2,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        ConnectionId = $"tcp-{Interlocked.Increment(ref s_lastId):x}";
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionClosed = _closed.Token;
        Features.Set<IConnectionSocketFeature>(this);
        Features.Set<ITcpHalfCloseFeature>(this);
    }

    public static TcpSocketConnection Start(Socket socket, TcpTransportOptions options, bool inlineCompletions, ILogger logger)
    {
        var connection = new TcpSocketConnection(socket, options, logger);
        if (inlineCompletions)
        {
            connection.Features.Set(InlineSocketCompletions.Feature.Instance);
        }

        connection._receiving = connection.ReceiveAsync();
        connection._sending = connection.SendAsync();
        return connection;
    }

    public override IDuplexPipe Transport { get; set; }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public Socket Socket => _socket;

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _aborted ??= abortReason;
        _output.Reader.CancelPendingRead();
        CloseSocket();
        SignalClosed();
    }

    /// <summary>Ends the sending side once what was written to the output pipe has been sent; the client's bytes keep flowing.</summary>
    public async ValueTask ShutdownSendAsync()
    {
        await _output.Writer.FlushAsync();
        await _output.Writer.CompleteAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await _input.Reader.CompleteAsync();
        await _output.Writer.CompleteAsync();
        await _sending;
        CloseSocket(); // Ends a receive still waiting for a client that never closed.
        await _receiving;
        await base.DisposeAsync();
    }

    private async Task ReceiveAsync()
    {
        await Task.Yield(); // Kestrel's accept loop goes on while this connection waits for its first bytes.
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            var waitForData = true;
            while (true)
            {
                if (waitForData)
                {
                    // A zero-byte receive waits for data without holding a buffer, so idle connections cost no memory.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                }

                var buffer = writer.GetMemory(_receiveSize);
                var read = await _socket.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);

                // A full buffer means more is likely waiting: read again at once.
                waitForData = read < buffer.Length;
                if (!waitForData && InlineSocketCompletions.OnEventThread)
                {
                    await Task.Yield(); // A bulk transfer: on to the thread pool (InlineSocketCompletions.OnEventThread).
                }

                var flush = await writer.FlushAsync();
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            error = new ConnectionResetException(e.Message, e);
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            error = _aborted ?? new ConnectionAbortedException("the connection was closed", e);
        }
        catch (Exception e)
        {
            LogUnexpected(e, ConnectionId);
            error = e;
        }
        finally
        {
            await writer.CompleteAsync(_aborted ?? error);
            LoopEnded();
        }
    }

    private async Task SendAsync()
    {
        await Task.Yield();
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                try
                {
                    foreach (var segment in buffer)
                    {
                        var remaining = segment;
                        while (!remaining.IsEmpty)
                        {
                            remaining = remaining[await _socket.SendAsync(remaining, SocketFlags.None)..];
                        }
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }

                if (result.IsCompleted)
                {
                    _socket.Shutdown(SocketShutdown.Send);
                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The client reset or the connection was aborted: nothing more can be sent.
        }
        catch (Exception e)
        {
            LogUnexpected(e, ConnectionId);
        }
        finally
        {
            await reader.CompleteAsync();
            LoopEnded();
        }
    }

    private void LoopEnded()
    {
        if (Interlocked.Decrement(ref _loopsRunning) == 0)
        {
            SignalClosed();
        }
    }

    /// <summary>Fires <see cref="ConnectionContext.ConnectionClosed"/> once, off the I/O path (its callbacks run user code).</summary>
    private void SignalClosed()
    {
        if (Interlocked.Exchange(ref _closedSignalled, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static closed => closed.Cancel(), _closed, preferLocal: false);
        }
    }

    private void CloseSocket()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already reset or closed.
        }

        _socket.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "TCP connection {ConnectionId}: transport failed")]
    private partial void LogUnexpected(Exception e, string connectionId);

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

/// <summary>The connection can end its sending side alone (a FIN) and keep receiving: TCP half-close.</summary>
internal interface ITcpHalfCloseFeature
{
    /// <summary>Sends what was written to the connection's output so far, then a FIN.</summary>
    ValueTask ShutdownSendAsync();
}
