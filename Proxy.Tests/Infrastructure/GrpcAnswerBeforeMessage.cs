using System.Globalization;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// gRPC calls from python3-h2 that wait for their answer before sending their message: on one h2c connection, each
/// round opens four calls to <c>Echo/Unary</c> (HEADERS only), waits for the four answers, then sends each call's message
/// with END_STREAM. A proxy that refuses calls before reading them (overload, rate limit, circuit breaker) must leave
/// such a connection usable: Kestrel resets new streams <c>ENHANCE_YOUR_CALM</c> once more than 100 answered streams
/// wait for their request's end.
/// </summary>
public static class GrpcAnswerBeforeMessage
{
    private const string Script = """
        import socket
        import h2.config, h2.connection, h2.events
        sock = socket.create_connection((HOST, PORT), timeout=30)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        message = bytes([0, 0, 0, 0, 3, 0x0a, 0x01, 0x78])
        for round in range(ROUNDS):
            open_streams = []
            for _ in range(4):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, [(':method', 'POST'), (':scheme', 'http'), (':authority', 'test'),
                                        (':path', '/proxymesh.test.Echo/Unary'), ('content-type', 'application/grpc'), ('te', 'trailers')])
                open_streams.append(sid)
            sock.sendall(conn.data_to_send())
            pending = set(open_streams)
            reset = set()
            while pending:
                data = sock.recv(65535)
                if not data:
                    print('goaway: connection closed')
                    raise SystemExit(0)
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ConnectionTerminated):
                        print('goaway %s' % event.error_code)
                        raise SystemExit(0)
                    if isinstance(event, h2.events.ResponseReceived) and event.stream_id in pending:
                        status = dict(event.headers).get('grpc-status')
                        print('answered %s before the message' % status)
                        pending.discard(event.stream_id)
                    elif isinstance(event, h2.events.StreamReset):
                        if event.stream_id in pending:
                            print('reset %s before an answer' % int(event.error_code))
                            pending.discard(event.stream_id)
                        else:
                            print('reset %s after the answer' % int(event.error_code))
                        reset.add(event.stream_id)
                sock.sendall(conn.data_to_send())
            for sid in open_streams:
                if sid not in reset:
                    conn.send_data(sid, message, end_stream=True)
            sock.sendall(conn.data_to_send())
        """;

    /// <returns>One line per call: <c>answered {grpc-status} before the message</c>, or how it was reset or the connection ended.</returns>
    public static async Task<IReadOnlyList<string>> RunAsync(Uri target, int rounds)
    {
        var (exitCode, output) = await Python.RunAsync(Script
            .Replace("HOST", $"'{target.Host}'", StringComparison.Ordinal)
            .Replace("PORT", target.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("ROUNDS", rounds.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal), "/usr/bin/python3");
        Assert.True(exitCode == 0, output);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}
