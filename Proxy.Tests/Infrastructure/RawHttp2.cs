using System.Buffers.Binary;
using System.Text;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// Just enough HTTP/2 framing to send what ordinary clients will not (e.g. <c>:scheme https</c> over cleartext)
/// and read a response body back.
/// </summary>
public static class RawHttp2
{
    public const byte DataType = 0x0;
    public const byte HeadersType = 0x1;
    public const byte SettingsType = 0x4;
    public const byte GoAwayType = 0x7;
    public const byte RstStreamType = 0x3;

    public static byte[] Settings() => Frame(SettingsType, 0, 0, []);

    /// <summary>A GET with HPACK literal headers (no Huffman, no indexing), END_STREAM and END_HEADERS set.</summary>
    public static byte[] GetRequest(int streamId, string scheme, string authority, string path)
    {
        var block = new List<byte>();
        Literal(block, ":method", "GET");
        Literal(block, ":scheme", scheme);
        Literal(block, ":authority", authority);
        Literal(block, ":path", path);
        return Frame(HeadersType, 0x1 | 0x4, streamId, block.ToArray());
    }

    public static async Task<(byte Type, byte Flags, int StreamId, byte[] Payload)> ReadFrameAsync(Stream stream)
    {
        var header = new byte[9];
        await stream.ReadExactlyAsync(header);
        var length = (header[0] << 16) | (header[1] << 8) | header[2];
        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload);
        return (header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7fffffff, payload);
    }

    /// <summary>Collects the DATA frames of one stream until END_STREAM; acknowledges nothing else.</summary>
    public static async Task<byte[]> ReadResponseBodyAsync(Stream stream, int streamId)
    {
        var outcome = (await ReadStreamsAsync(stream, streamId))[streamId];
        return outcome.ResetCode is { } code
            ? throw new InvalidOperationException($"Stream ended by frame type {RstStreamType}, error code {code}")
            : outcome.Body;
    }

    /// <summary>
    /// Reads frames until every given stream has ended, by END_STREAM or RST_STREAM; streams are served concurrently,
    /// so their frames interleave.
    /// </summary>
    public static async Task<Dictionary<int, (byte[] Body, uint? ResetCode)>> ReadStreamsAsync(Stream stream, params int[] streamIds)
    {
        var bodies = streamIds.ToDictionary(id => id, _ => new MemoryStream());
        var ended = new Dictionary<int, (byte[] Body, uint? ResetCode)>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (ended.Count < streamIds.Length)
        {
            var frame = await ReadFrameAsync(stream).WaitAsync(timeout.Token);
            if (frame.Type == GoAwayType)
            {
                throw new InvalidOperationException($"Connection ended by GOAWAY, error code {BinaryPrimitives.ReadUInt32BigEndian(frame.Payload.AsSpan(4))}");
            }

            if (!bodies.TryGetValue(frame.StreamId, out var body) || ended.ContainsKey(frame.StreamId))
            {
                continue;
            }

            if (frame.Type == RstStreamType)
            {
                ended[frame.StreamId] = (body.ToArray(), BinaryPrimitives.ReadUInt32BigEndian(frame.Payload));
                continue;
            }

            if (frame.Type == DataType)
            {
                body.Write(frame.Payload);
            }

            if ((frame.Type is DataType or HeadersType) && (frame.Flags & 0x1) != 0)
            {
                ended[frame.StreamId] = (body.ToArray(), null);
            }
        }

        return ended;
    }

    private static void Literal(List<byte> block, string name, string value)
    {
        block.Add(0x00);
        StringLiteral(block, name);
        StringLiteral(block, value);
    }

    private static void StringLiteral(List<byte> block, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        if (bytes.Length >= 127)
        {
            throw new ArgumentException("Only short literals are supported", nameof(text));
        }

        block.Add((byte)bytes.Length);
        block.AddRange(bytes);
    }

    public static byte[] Frame(byte type, byte flags, int streamId, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame, 9);
        return frame;
    }
}
