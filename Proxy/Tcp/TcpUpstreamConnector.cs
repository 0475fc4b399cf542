using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.Tcp.Transport;
using ProxyMesh.Proxy.Tls;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Opens the upstream side of a proxied connection: a TCP connection within the cluster's connect timeout (policy
/// <c>Timeouts:Connect</c>), then for <c>tls://</c> hosts a TLS handshake under the cluster's <c>Tls</c> policy within
/// the same deadline. A failed handshake is a connect failure, as in Envoy.
/// </summary>
internal sealed class TcpUpstreamConnector(UpstreamTls tls, TimeProvider time)
{
    /// <param name="inlineCompletions">A plain upstream socket completes on the socket engine's event thread, as the
    /// client's does (<see cref="InlineSocketCompletions"/>); set once connected, so the connect itself completes on the thread pool.</param>
    public async ValueTask<TcpUpstreamConnection> ConnectAsync(ClusterContext cluster, TcpUpstreamAddress address, bool inlineCompletions, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(cluster.Timeouts.Connect, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(address.EndPoint, linked.Token);
            var network = new NetworkStream(socket, ownsSocket: true);
            if (!address.Tls)
            {
                if (inlineCompletions)
                {
                    InlineSocketCompletions.Enable(socket);
                }

                return new TcpUpstreamConnection(socket, network, tls: null);
            }

            var ssl = new SslStream(network, leaveInnerStreamOpen: false);
            try
            {
                await ssl.AuthenticateAsClientAsync(tls.ClientOptions(cluster.ClusterId, address.Host), linked.Token);
            }
            catch
            {
                await ssl.DisposeAsync();
                throw;
            }

            return new TcpUpstreamConnection(socket, ssl, ssl);
        }
        catch (Exception e) when (e is SocketException or IOException or System.Security.Authentication.AuthenticationException
                                  || (e is OperationCanceledException && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested))
        {
            socket.Dispose();
            var timedOut = timeout.IsCancellationRequested;
            throw new TcpConnectException($"connecting to {address} {(timedOut ? "timed out" : $"failed: {e.Message}")}", timedOut, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>An upstream connect (or TLS handshake) failed or timed out.</summary>
internal sealed class TcpConnectException(string message, bool timedOut, Exception inner) : Exception(message, inner)
{
    /// <summary>The cluster's connect timeout expired first.</summary>
    public bool TimedOut { get; } = timedOut;
}

/// <summary>The upstream side of one proxied connection: a stream (plain or TLS) over its socket.</summary>
internal sealed class TcpUpstreamConnection(Socket socket, Stream stream, SslStream? tls) : IAsyncDisposable
{
    private readonly List<ArraySegment<byte>> _gather = [];

    public Stream Stream { get; } = stream;

    /// <summary>
    /// Sends the downstream bytes as they lie in the downstream pipe's buffers: one gathered send for a plain
    /// connection (no copy), one TLS record per buffer segment for TLS.
    /// </summary>
    public async ValueTask SendAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken)
    {
        if (tls is not null || data.IsSingleSegment || !TryGather(data))
        {
            foreach (var segment in data)
            {
                await Stream.WriteAsync(segment, cancellationToken);
            }

            return;
        }

        int sent;
        try
        {
            // No token on a gathered send: closing the session aborts the socket, which ends it.
            sent = await socket.SendAsync(_gather, SocketFlags.None);
        }
        finally
        {
            _gather.Clear();
        }

        if (sent < data.Length)
        {
            foreach (var segment in data.Slice(sent))
            {
                await Stream.WriteAsync(segment, cancellationToken);
            }
        }
    }

    private bool TryGather(ReadOnlySequence<byte> data)
    {
        foreach (var segment in data)
        {
            if (!MemoryMarshal.TryGetArray(segment, out var array))
            {
                _gather.Clear();
                return false;
            }

            _gather.Add(array);
        }

        return true;
    }

    /// <summary>Half-close: no more bytes to the upstream (TLS close_notify first), its replies still flow.</summary>
    public async ValueTask ShutdownSendAsync()
    {
        if (tls is not null)
        {
            await tls.ShutdownAsync();
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Closes with a reset rather than a FIN: the proxy gave up on the connection.</summary>
    public void Abort() => socket.Close(timeout: 0);

    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}
