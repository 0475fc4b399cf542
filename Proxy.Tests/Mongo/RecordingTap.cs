using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace ProxyMesh.Proxy.Tests.Mongo;

/// <summary>
/// A plain TCP relay on 127.0.0.1 that records every byte of every connection each way: put one in front of the
/// proxy and one behind it, and the two recordings show whether the proxy forwarded the bytes unchanged.
/// </summary>
internal sealed class RecordingTap : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Recording> _recordings = [];
    private readonly Task _accepting;

    public RecordingTap(int targetPort)
    {
        _targetPort = targetPort;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>Connections whose both directions have ended.</summary>
    public int Completed => _recordings.Count(recording => recording.Done.IsCompleted);

    public int Accepted => _recordings.Count;

    /// <summary>Per connection, the SHA-256 of what the client sent and of what the server sent, in a stable order.</summary>
    public IReadOnlyList<string> Fingerprints() =>
        _recordings.Select(recording => $"{Hash(recording.ClientToServer)}/{Hash(recording.ServerToClient)}").Order(StringComparer.Ordinal).ToList();

    public long BytesFromClients => _recordings.Sum(recording => recording.ClientToServer.Length);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var recording = new Recording();
            recording.Done = RelayAsync(client, recording);
            _recordings.Add(recording);
        }
    }

    private async Task RelayAsync(Socket client, Recording recording)
    {
        using (client)
        using (var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            try
            {
                await server.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _targetPort), _stop.Token);
                await Task.WhenAll(PumpAsync(client, server, recording.ClientToServer), PumpAsync(server, client, recording.ServerToClient));
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A reset or the tap stopping: what was recorded stays.
            }
        }
    }

    /// <summary>
    /// Relays one direction until its source ends (FIN or reset), recording every byte; when the receiver has gone,
    /// keeps draining and recording, so the recording is what the source sent. Ends by passing the FIN on.
    /// </summary>
    private async Task PumpAsync(Socket from, Socket to, MemoryStream record)
    {
        var buffer = new byte[16 * 1024];
        var sending = true;
        while (true)
        {
            int read;
            try
            {
                read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            }
            catch (SocketException)
            {
                break;
            }

            if (read == 0)
            {
                break;
            }

            lock (record)
            {
                record.Write(buffer, 0, read);
            }

            try
            {
                for (var sent = 0; sending && sent < read;)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, _stop.Token);
                }
            }
            catch (SocketException)
            {
                sending = false;
            }
        }

        try
        {
            to.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // Already closed by its peer.
        }
    }

    private static string Hash(MemoryStream stream)
    {
        lock (stream)
        {
            return Convert.ToHexString(SHA256.HashData(stream.ToArray()))[..16] + ":" + stream.Length;
        }
    }

    private sealed class Recording
    {
        public MemoryStream ClientToServer { get; } = new();

        public MemoryStream ServerToClient { get; } = new();

        public Task Done { get; set; } = Task.CompletedTask;
    }
}
