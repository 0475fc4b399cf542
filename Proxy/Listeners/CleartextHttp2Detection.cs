using System.Buffers;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// Serves HTTP/1.1 and cleartext HTTP/2 (h2c with prior knowledge) on one port, as Envoy's codec auto-detection does.
/// </summary>
/// <remarks>
/// Kestrel serves a cleartext <c>Http1AndHttp2</c> endpoint as HTTP/1.1 only: without TLS there is no ALPN to pick
/// the protocol (dotnet/aspnetcore#56984). An h2c client, though, opens with the fixed 24-byte connection preface.
/// This connection middleware peeks at the first bytes in place (nothing is consumed) and, on a preface, gives
/// Kestrel's protocol selection the answer ALPN would have given over TLS: an <see cref="ITlsApplicationProtocolFeature"/>
/// of <c>h2</c>, plus an <see cref="ITlsConnectionFeature"/> because Kestrel only consults ALPN on connections it
/// believes to be TLS. Kestrel consults both once, when it picks the protocol at the start of the connection, and
/// reading the ALPN answer withdraws both, so no stream or request ever sees a TLS feature and
/// <c>Request.IsHttps</c> stays false (tests pin this). No handshake feature is ever added. Kestrel then treats the
/// streams as cleartext, as on an h2c-only listener: a <c>:scheme</c> of <c>https</c> is refused.
/// </remarks>
internal static class CleartextHttp2Detection
{
    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next, TimeSpan prefaceTimeout)
    {
        bool isHttp2;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            timeout.CancelAfter(prefaceTimeout);
            try
            {
                isHttp2 = await StartsWithPrefaceAsync(connection, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                // Silent client or closed connection: nothing was served, so nothing to hand to Kestrel.
                return;
            }
        }

        if (!isHttp2)
        {
            await next(connection);
            return;
        }

        var answer = new Http2AlpnAnswer(connection.Features);
        connection.Features.Set<ITlsConnectionFeature>(answer);
        connection.Features.Set<ITlsApplicationProtocolFeature>(answer);
        var serving = next(connection);
        answer.Withdraw(); // Should Kestrel ever pick the protocol without reading ALPN.
        await serving;
    }

    /// <summary>Reads until the bytes seen either diverge from the preface or contain all of it; consumes nothing.</summary>
    private static async ValueTask<bool> StartsWithPrefaceAsync(ConnectionContext connection, CancellationToken cancellationToken)
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            var verdict = Compare(buffer);
            if (verdict is not null || result.IsCompleted || result.IsCanceled)
            {
                input.AdvanceTo(buffer.Start);
                return verdict == true;
            }

            // A prefix of the preface so far: mark it examined so the next read waits for more bytes.
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <returns>true for a whole preface, false once a byte differs, null while the bytes seen are a prefix of it.</returns>
    internal static bool? Compare(ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, Preface.Length);
        Span<byte> head = stackalloc byte[Preface.Length];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(Preface[..length]))
        {
            return false;
        }

        return length == Preface.Length ? true : null;
    }

    /// <summary>
    /// The ALPN answer handed to Kestrel's protocol selection, and only to it: Kestrel checks for TLS first and then
    /// reads <see cref="ApplicationProtocol"/>, and that read withdraws both features before any stream can start
    /// (the preface and the first frames may already be buffered, so streams can start before <c>next</c> returns).
    /// </summary>
    private sealed class Http2AlpnAnswer(IFeatureCollection connectionFeatures) : ITlsApplicationProtocolFeature, ITlsConnectionFeature
    {
        private static readonly ReadOnlyMemory<byte> H2 = "h2"u8.ToArray();

        public ReadOnlyMemory<byte> ApplicationProtocol
        {
            get
            {
                Withdraw();
                return H2;
            }
        }

        public X509Certificate2? ClientCertificate
        {
            get => null;
            set => throw new NotSupportedException("A cleartext connection has no client certificate.");
        }

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult<X509Certificate2?>(null);

        public void Withdraw()
        {
            connectionFeatures.Set<ITlsConnectionFeature>(null);
            connectionFeatures.Set<ITlsApplicationProtocolFeature>(null);
        }
    }
}

