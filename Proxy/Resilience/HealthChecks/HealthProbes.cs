using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using ProxyMesh.Proxy.Tls;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>How one check went, in Envoy's terms.</summary>
internal enum ProbeResult
{
    Success,

    /// <summary>The host answered that it is unhealthy (Envoy's active failure): it is ejected at once.</summary>
    Failure,

    /// <summary>The host could not be reached or did not answer in time: counted towards the unhealthy threshold.</summary>
    NetworkFailure,
}

/// <summary>One check of one destination: an HTTP GET, a TCP connect, or a gRPC <c>grpc.health.v1.Health/Check</c>.</summary>
internal sealed class HealthProbes : IDisposable
{
    private const int MaxGrpcResponseBytes = 64 * 1024;

    private readonly TimeProvider _time;
    private readonly ProbeClientFactory _clientFactory;
    private readonly ConcurrentDictionary<string, (HttpClientConfig Config, HttpMessageInvoker Client)> _clients = new(StringComparer.OrdinalIgnoreCase);

    public HealthProbes(TimeProvider time, UpstreamTls tls)
    {
        _time = time;
        _clientFactory = new ProbeClientFactory(tls);
    }

    public async Task<ProbeResult> ProbeAsync(HealthCheckPolicy policy, ClusterState cluster, DestinationState destination, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(policy.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            var address = new Uri(destination.Model.Config.Address);
            return policy.Kind switch
            {
                HealthCheckType.Tcp => await ConnectAsync(address, linked.Token),
                HealthCheckType.Grpc => await GrpcCheckAsync(policy, cluster, destination, address, linked.Token),
                _ => await HttpCheckAsync(policy, cluster, destination, address, linked.Token),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ProbeResult.NetworkFailure;
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or IOException)
        {
            return ProbeResult.NetworkFailure;
        }
        catch (Exception e) when (e is UriFormatException or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            // A check that cannot be made at all (an address or path HttpClient refuses): the host is not shown healthy.
            return ProbeResult.Failure;
        }
    }

    private static async Task<ProbeResult> ConnectAsync(Uri address, CancellationToken cancellationToken)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(address.IdnHost, address.Port, cancellationToken);
        return ProbeResult.Success;
    }

    private async Task<ProbeResult> HttpCheckAsync(HealthCheckPolicy policy, ClusterState cluster, DestinationState destination, Uri address, CancellationToken cancellationToken)
    {
        var http2 = cluster.Model.Config.HttpRequest?.Version == HttpVersion.Version20;
        using var request = Request(HttpMethod.Get, address, policy.Path, destination, http2);
        using var response = await ClientFor(cluster).SendAsync(request, cancellationToken);
        return policy.IsExpected((int)response.StatusCode) ? ProbeResult.Success : ProbeResult.Failure;
    }

    private async Task<ProbeResult> GrpcCheckAsync(HealthCheckPolicy policy, ClusterState cluster, DestinationState destination, Uri address, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Post, address, "/grpc.health.v1.Health/Check", destination, http2: true);
        request.Content = new ByteArrayContent(HealthCheckRequest(policy.GrpcService));
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        using var response = await ClientFor(cluster).SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return ProbeResult.Failure;
        }

        var body = await ReadLimitedAsync(response.Content, cancellationToken);
        var status = GrpcStatus(response);
        return status == "0" && ServingStatus(body) == 1 ? ProbeResult.Success : ProbeResult.Failure;
    }

    private static HttpRequestMessage Request(HttpMethod method, Uri address, string path, DestinationState destination, bool http2)
    {
        var request = new HttpRequestMessage(method, new Uri(address.GetLeftPart(UriPartial.Path).TrimEnd('/') + path))
        {
            Version = http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            VersionPolicy = http2 ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
        };
        request.Headers.UserAgent.ParseAdd("ProxyMesh-HealthCheck");
        if (destination.Model.Config.Host is { Length: > 0 } host)
        {
            request.Headers.Host = host;
        }

        return request;
    }

    /// <summary>
    /// A client built from the cluster's YARP <c>HttpClient</c> config exactly as YARP builds the cluster's own (TLS
    /// protocols, DangerousAcceptAnyServerCertificate, web proxy, header encodings, HTTP/2 connections) and verifying
    /// and authenticating as the cluster's <c>Tls</c> policy says, so checks reach hosts the way traffic does; but a
    /// client of its own, so checks neither count as traffic nor wait behind the cluster's connection circuit breaker.
    /// Rebuilt when that config changes; the <c>Tls</c> policy is read at each handshake.
    /// </summary>
    private HttpMessageInvoker ClientFor(ClusterState cluster)
    {
        var config = cluster.Model.Config.HttpClient ?? HttpClientConfig.Empty;
        if (_clients.TryGetValue(cluster.ClusterId, out var cached) && cached.Config == config)
        {
            return cached.Client;
        }

        var client = _clientFactory.CreateClient(new ForwarderHttpClientContext
        {
            ClusterId = cluster.ClusterId,
            OldConfig = cached.Config ?? HttpClientConfig.Empty,
            OldMetadata = null,
            OldClient = null,
            NewConfig = config,
            NewMetadata = cluster.Model.Config.Metadata,
        });
        _clients[cluster.ClusterId] = (config, client);
        return client;
    }

    /// <summary>A length-prefixed <c>HealthCheckRequest { string service = 1; }</c>.</summary>
    internal static byte[] HealthCheckRequest(string service)
    {
        var name = Encoding.UTF8.GetBytes(service);
        var message = new List<byte>();
        if (name.Length > 0)
        {
            message.Add(0x0A);
            WriteVarint(message, (ulong)name.Length);
            message.AddRange(name);
        }

        var frame = new byte[5 + message.Count];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Count);
        message.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>The <c>status</c> of a length-prefixed <c>HealthCheckResponse</c> (1 = SERVING), or -1 when unreadable.</summary>
    internal static long ServingStatus(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 5 || frame[0] != 0)
        {
            return -1;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(frame[1..]);
        if (length > frame.Length - 5)
        {
            return -1;
        }

        var message = frame.Slice(5, (int)length);
        long status = 0;
        while (!message.IsEmpty)
        {
            if (!TryReadVarint(ref message, out var tag))
            {
                return -1;
            }

            switch (tag & 7)
            {
                case 0:
                    if (!TryReadVarint(ref message, out var value))
                    {
                        return -1;
                    }

                    if (tag >> 3 == 1)
                    {
                        status = (long)value;
                    }

                    break;
                case 2:
                    if (!TryReadVarint(ref message, out var size) || size > (ulong)message.Length)
                    {
                        return -1;
                    }

                    message = message[(int)size..];
                    break;
                case 1 when message.Length >= 8:
                    message = message[8..];
                    break;
                case 5 when message.Length >= 4:
                    message = message[4..];
                    break;
                default:
                    return -1;
            }
        }

        return status;
    }

    private static string? GrpcStatus(HttpResponseMessage response) =>
        response.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.FirstOrDefault()
        : response.Headers.TryGetValues("grpc-status", out var header) ? header.FirstOrDefault()
        : null;

    private static async Task<byte[]> ReadLimitedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxGrpcResponseBytes)
            {
                throw new IOException("gRPC health response too large");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static void WriteVarint(List<byte> bytes, ulong value)
    {
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        bytes.Add((byte)value);
    }

    private static bool TryReadVarint(ref ReadOnlySpan<byte> bytes, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && !bytes.IsEmpty; shift += 7)
        {
            var b = bytes[0];
            bytes = bytes[1..];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    public void Dispose()
    {
        foreach (var (_, (_, client)) in _clients)
        {
            client.Dispose();
        }
    }

    /// <summary>YARP's client factory plus the cluster's <c>Tls</c> policy (CA, client certificate for mutual TLS).</summary>
    private sealed class ProbeClientFactory(UpstreamTls tls) : ForwarderHttpClientFactory
    {
        protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
        {
            base.ConfigureHandler(context, handler);
            tls.ConfigureHttpHandler(context.ClusterId, handler);
        }
    }
}
