using System.Text;
using System.Text.Json;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>One gRPC response as it arrived on the wire, frame by frame.</summary>
/// <param name="Headers">The first HEADERS block, pseudo-headers included.</param>
/// <param name="EndStreamOnHeaders">Whether that HEADERS frame carried END_STREAM (a trailers-only response).</param>
/// <param name="DataBytes">Bytes of DATA frames that followed.</param>
/// <param name="Trailers">A second HEADERS block, if any.</param>
/// <param name="ResetCode">The RST_STREAM error code, if the stream was reset.</param>
public sealed record RawGrpcResponse(
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    bool EndStreamOnHeaders,
    int DataBytes,
    IReadOnlyList<KeyValuePair<string, string>>? Trailers,
    long? ResetCode)
{
    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (key == name)
            {
                return value;
            }
        }

        return null;
    }
}

/// <summary>
/// gRPC calls made with python3-h2 (a non-.NET HTTP/2 stack), reporting the raw answer: <c>Grpc.Net.Client</c> reads
/// <c>grpc-status</c> whatever the HTTP status and framing, so it cannot show that a reply is a valid trailers-only one.
/// Debian's python3 carries the h2 package (<c>python3-h2</c>).
/// </summary>
public static class RawGrpcCall
{
    private const string Script = """
        import json, socket
        import h2.config, h2.connection, h2.events
        host, port, calls = HOST, PORT, json.loads(CALLS)
        sock = socket.create_connection((host, port), timeout=30)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        results = []
        for call in calls:
            sid = conn.get_next_available_stream_id()
            headers = [(':method', 'POST'), (':scheme', 'http'), (':authority', '%s:%d' % (host, port)), (':path', call['path']),
                       ('content-type', 'application/grpc'), ('te', 'trailers')] + [tuple(h) for h in call['headers']]
            conn.send_headers(sid, headers)
            conn.send_data(sid, bytes.fromhex(call['body']), end_stream=True)
            sock.sendall(conn.data_to_send())
            result = {'headers': None, 'endStreamOnHeaders': False, 'dataBytes': 0, 'trailers': None, 'resetCode': None}
            done = False
            while not done:
                data = sock.recv(65535)
                if not data:
                    raise SystemExit('connection closed before the stream ended')
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ConnectionTerminated):
                        raise SystemExit('GOAWAY %s' % event.error_code)
                    if getattr(event, 'stream_id', None) != sid:
                        continue
                    if isinstance(event, h2.events.ResponseReceived):
                        result['headers'] = [[k, v] for k, v in event.headers]
                        result['endStreamOnHeaders'] = event.stream_ended is not None
                    elif isinstance(event, h2.events.DataReceived):
                        result['dataBytes'] += len(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, sid)
                    elif isinstance(event, h2.events.TrailersReceived):
                        result['trailers'] = [[k, v] for k, v in event.headers]
                    elif isinstance(event, h2.events.StreamEnded):
                        done = True
                    elif isinstance(event, h2.events.StreamReset):
                        result['resetCode'] = int(event.error_code)
                        done = True
                sock.sendall(conn.data_to_send())
            results.append(result)
        print(json.dumps(results))
        """;

    /// <summary>A call: its path, extra request headers and the serialized request message (framed here).</summary>
    public sealed record Request(string Path, byte[] Message, params (string Name, string Value)[] Headers);

    /// <summary>Makes the calls one after another on one h2c connection to <paramref name="target"/>.</summary>
    public static async Task<IReadOnlyList<RawGrpcResponse>> SendAsync(Uri target, params Request[] calls)
    {
        var json = JsonSerializer.Serialize(calls.Select(call => new
        {
            path = call.Path,
            headers = call.Headers.Select(header => new[] { header.Name, header.Value }),
            body = Convert.ToHexString(Frame(call.Message)),
        }));
        var script = Script
            .Replace("HOST", JsonSerializer.Serialize(target.Host), StringComparison.Ordinal)
            .Replace("PORT", target.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("CALLS", JsonSerializer.Serialize(json), StringComparison.Ordinal);
        var (exitCode, output) = await Python.RunAsync(script, "/usr/bin/python3");
        Assert.True(exitCode == 0, output);
        using var document = JsonDocument.Parse(output);
        var responses = new List<RawGrpcResponse>();
        foreach (var result in document.RootElement.EnumerateArray())
        {
            responses.Add(new RawGrpcResponse(
                Pairs(result.GetProperty("headers")) ?? throw new InvalidOperationException("no response headers: " + output),
                result.GetProperty("endStreamOnHeaders").GetBoolean(),
                result.GetProperty("dataBytes").GetInt32(),
                Pairs(result.GetProperty("trailers")),
                result.GetProperty("resetCode").ValueKind == JsonValueKind.Null ? null : result.GetProperty("resetCode").GetInt64()));
        }

        return responses;
    }

    /// <summary>The test Echo service's request message: <c>message</c> (1) and <c>delay_ms</c> (4).</summary>
    public static byte[] EchoRequest(string message, int delayMs = 0)
    {
        var text = Encoding.UTF8.GetBytes(message);
        var bytes = new List<byte> { 0x0a, (byte)text.Length };
        bytes.AddRange(text);
        if (delayMs > 0)
        {
            bytes.Add(0x20);
            for (var value = (uint)delayMs; ; value >>= 7)
            {
                if (value < 0x80)
                {
                    bytes.Add((byte)value);
                    break;
                }

                bytes.Add((byte)(value | 0x80));
            }
        }

        return bytes.ToArray();
    }

    private static byte[] Frame(byte[] message)
    {
        var framed = new byte[5 + message.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(framed.AsSpan(1), message.Length);
        message.CopyTo(framed, 5);
        return framed;
    }

    private static List<KeyValuePair<string, string>>? Pairs(JsonElement element) =>
        element.ValueKind == JsonValueKind.Null
            ? null
            : element.EnumerateArray().Select(pair => KeyValuePair.Create(pair[0].GetString()!, pair[1].GetString()!)).ToList();
}
