using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using ProxyMesh.Proxy.Tests.Grpc;

namespace ProxyMesh.Bench.Soak;

/// <summary>The traffic an overload run drives: what one request is and how its answer is judged.</summary>
internal enum OverloadProtocol
{
    /// <summary><c>GET /small</c> over HTTP/1.1 to an HTTP/1.1 upstream.</summary>
    Http1,

    /// <summary><c>GET /h2/small</c> over h2c (prior knowledge) to an h2c upstream.</summary>
    H2c,

    /// <summary>The unary <c>Echo/Unary</c> gRPC call over h2c to the h2c upstream's gRPC service.</summary>
    Grpc,
}

/// <summary>How one request ended.</summary>
internal enum Answer
{
    /// <summary>Served: 200 (gRPC: status OK and the echoed message).</summary>
    Accepted,

    /// <summary>Refused by the overload manager: 503 (gRPC: UNAVAILABLE) with <c>x-envoy-overloaded: true</c>.</summary>
    Shed,

    /// <summary>503 (gRPC: UNAVAILABLE) without <c>x-envoy-overloaded: true</c>.</summary>
    ShedWithoutHeader,

    /// <summary>
    /// The connection it was to go out on was closed before any answer: what the overload manager does to a new
    /// connection over <c>MaxConnections</c> or the heap limit. The request was not processed and is safe to retry.
    /// </summary>
    Refused,

    /// <summary>
    /// Its HTTP/2 stream was reset by Kestrel on its HEADERS, before the stream reached the application:
    /// <c>REFUSED_STREAM</c> (over <c>MaxConcurrentStreams</c> before the client had the proxy's SETTINGS; RFC 9113
    /// §8.7: not processed, safe to retry) or <c>ENHANCE_YOUR_CALM</c> (the connection holds more than twice
    /// <c>MaxConcurrentStreams</c> streams the client has not finished: answered ones whose request end has not come),
    /// or failed by a graceful <c>GOAWAY</c> whose last processed stream was below it.
    /// </summary>
    StreamRefused,

    /// <summary>Anything else.</summary>
    Failed,
}

/// <summary>
/// One client of an overload run: a connection pool of its own (HTTP/1.1 up to <see cref="MaxConnections"/>
/// connections; h2c and gRPC as many HTTP/2 connections as the streams need). Every request carries
/// <c>x-request-id: overload-{phase}</c> (the proxy keeps a loopback caller's id), so its access-log line tells the
/// phases apart.
/// </summary>
internal sealed class OverloadClient : IDisposable
{
    public const int MaxConnections = 1024;
    private static readonly EchoRequest EchoRequest = new() { Message = "x" };

    private readonly OverloadProtocol protocol;
    private readonly Uri baseAddress;
    private readonly HttpClient? http;
    private readonly GrpcChannel? channel;
    private readonly Echo.EchoClient? echo;

    public OverloadClient(OverloadProtocol protocol, Uri baseAddress)
    {
        this.protocol = protocol;
        this.baseAddress = baseAddress;
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = MaxConnections,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            EnableMultipleHttp2Connections = true,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (protocol == OverloadProtocol.Grpc)
        {
            channel = GrpcChannel.ForAddress(baseAddress, new GrpcChannelOptions { HttpHandler = handler });
            echo = new Echo.EchoClient(channel);
        }
        else
        {
            http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        }
    }

    /// <summary>The request path, as the access log shows it.</summary>
    public static string PathOf(OverloadProtocol protocol) => protocol switch
    {
        OverloadProtocol.Http1 => "/small",
        OverloadProtocol.H2c => "/h2/small",
        _ => "/proxymesh.test.Echo/Unary",
    };

    public static string RequestIdOf(string phase) => $"overload-{phase}";

    public async Task<(Answer Answer, string? Failure)> SendAsync(string requestId)
    {
        if (echo is not null)
        {
            return await CallAsync(requestId);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseAddress, PathOf(protocol)))
        {
            Version = protocol == OverloadProtocol.H2c ? HttpVersion.Version20 : HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.TryAddWithoutValidation("x-request-id", requestId);
        HttpResponseMessage response;
        try
        {
            response = await http!.SendAsync(request, HttpCompletionOption.ResponseContentRead);
        }
        catch (HttpRequestException e) when (IsStreamRefused(e))
        {
            return (Answer.StreamRefused, null);
        }
        catch (HttpRequestException e) when (IsRefused(e))
        {
            return (Answer.Refused, null);
        }
        catch (SocketException)
        {
            // SocketsHttpHandler lets this through unwrapped when the connection is reset before it reads the remote
            // end point (ENOTCONN, "Transport endpoint is not connected").
            return (Answer.Refused, null);
        }

        using var _ = response;
        return response.StatusCode switch
        {
            HttpStatusCode.OK => (Answer.Accepted, null),
            HttpStatusCode.ServiceUnavailable when response.Headers.TryGetValues("x-envoy-overloaded", out var values) && values.Contains("true") => (Answer.Shed, null),
            HttpStatusCode.ServiceUnavailable => (Answer.ShedWithoutHeader, null),
            _ => (Answer.Failed, $"status {(int)response.StatusCode}"),
        };
    }

    private async Task<(Answer Answer, string? Failure)> CallAsync(string requestId)
    {
        try
        {
            var reply = await echo!.UnaryAsync(EchoRequest, new Metadata { { "x-request-id", requestId } }, DateTime.UtcNow.AddSeconds(60));
            return reply.Message == EchoRequest.Message ? (Answer.Accepted, null) : (Answer.Failed, $"reply '{reply.Message}'");
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            // A trailers-only answer: Grpc.Net.Client hands its headers over as the trailers.
            return e.Trailers.GetValue("x-envoy-overloaded") == "true" ? (Answer.Shed, null)
                : e.Status.DebugException is HttpRequestException refused && IsRefused(refused) ? (Answer.Refused, null)
                : e.Status.DebugException is SocketException ? (Answer.Refused, null) // its connection reset, or backing off after that
                : (Answer.ShedWithoutHeader, $"UNAVAILABLE without the header: {e.Status.Detail} {e.Status.DebugException?.GetType().Name}: {e.Status.DebugException?.Message}");
        }
        catch (RpcException e) when (e.Status.DebugException is HttpRequestException refused && IsStreamRefused(refused))
        {
            return (Answer.StreamRefused, null);
        }
        catch (RpcException e) when (e.Status.DebugException is HttpRequestException refused && IsRefused(refused))
        {
            return (Answer.Refused, null);
        }
        catch (RpcException e)
        {
            return (Answer.Failed, $"{e.StatusCode}: {e.Status.Detail}");
        }
    }

    /// <summary>
    /// The connection was reset or ended before a byte of an answer came (the client could not connect, or the proxy
    /// closed the connection before answering the HTTP/2 preface: SocketsHttpHandler's "the server did not complete the
    /// HTTP/2 handshake").
    /// </summary>
    private static bool IsRefused(HttpRequestException e) =>
        e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.ResponseEnded
        || (e.HttpRequestError == HttpRequestError.InvalidResponse && e.InnerException is IOException)
        || ResetWhileSending(e);

    /// <summary>
    /// SocketsHttpHandler sends requests on a new HTTP/2 connection before the server's SETTINGS arrive, so the requests
    /// it put on a connection the proxy then closed fail on their write (reset, broken pipe, a disposed stream) or as
    /// aborted, with no answer. The run bounds how many such failures it accepts by the connections the proxy counted
    /// refused.
    /// </summary>
    private static bool ResetWhileSending(HttpRequestException e)
    {
        if (e.HttpRequestError == HttpRequestError.HttpProtocolError)
        {
            return false; // the server answered with an HTTP/2 error: not a closed connection
        }

        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException or ObjectDisposedException)
            {
                return true;
            }
        }

        return e.InnerException is IOException or null && e.HttpRequestError == HttpRequestError.Unknown;
    }

    /// <summary>
    /// Reset by Kestrel before dispatch (<c>REFUSED_STREAM</c>, <c>ENHANCE_YOUR_CALM</c>), or past the last stream a
    /// graceful <c>GOAWAY</c> (<c>NO_ERROR</c>) said the server would process (RFC 9113 §6.8): streams at or below it
    /// complete normally, so a request failed by that GOAWAY was not processed; SocketsHttpHandler cannot resend a
    /// gRPC body.
    /// </summary>
    private static bool IsStreamRefused(HttpRequestException e) =>
        e.InnerException is HttpProtocolException { ErrorCode: RefusedStream or EnhanceYourCalm or GoAwayNoError };

    private const long GoAwayNoError = 0x0;
    private const long RefusedStream = 0x7;
    private const long EnhanceYourCalm = 0xb;

    public void Dispose()
    {
        http?.Dispose();
        channel?.Dispose();
    }
}
