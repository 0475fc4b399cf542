using System.Buffers.Binary;
using MongoDB.Bson;

namespace ProxyMesh.Proxy.Tests.Mongo;

/// <summary>Builds MongoDB wire messages byte by byte, as a server or driver would send them (BSON from MongoDB.Bson).</summary>
internal static class WireFrames
{
    public const int OpReply = 1;
    public const int OpUpdate = 2001;
    public const int OpInsert = 2002;
    public const int OpQuery = 2004;
    public const int OpGetMore = 2005;
    public const int OpDelete = 2006;
    public const int OpKillCursors = 2007;
    public const int OpCompressed = 2012;
    public const int OpMsg = 2013;

    public const int ChecksumPresent = 1 << 0;
    public const int MoreToCome = 1 << 1;
    public const int ExhaustAllowed = 1 << 16;

    /// <summary>OP_MSG with a body section (kind 0), optional document sequences (kind 1) and an optional checksum.</summary>
    public static byte[] Msg(int requestId, int responseTo, BsonDocument body, int flags = 0, params (string Identifier, BsonDocument[] Documents)[] sequences)
    {
        var payload = new List<byte>();
        payload.AddRange(Int32(flags));
        payload.Add(0);
        payload.AddRange(body.ToBson());
        foreach (var (identifier, documents) in sequences)
        {
            var section = new List<byte>();
            section.AddRange(CString(identifier));
            foreach (var document in documents)
            {
                section.AddRange(document.ToBson());
            }

            payload.Add(1);
            payload.AddRange(Int32(section.Count + 4));
            payload.AddRange(section);
        }

        if ((flags & ChecksumPresent) == 0)
        {
            return Message(requestId, responseTo, OpMsg, payload);
        }

        payload.AddRange(Int32(0));
        var message = Message(requestId, responseTo, OpMsg, payload);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(message.Length - 4), Crc32C(message.AsSpan(0, message.Length - 4)));
        return message;
    }

    /// <summary>CRC-32C (Castagnoli) bit by bit, as the OP_MSG specification defines it; independent of the proxy's own.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        foreach (var b in data)
        {
            crc ^= b;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }

        return ~crc;
    }

    /// <summary>
    /// OP_COMPRESSED carrying <paramref name="message"/> (a whole message: its header is dropped, its opcode kept), compressed
    /// with the libraries MongoDB's .NET driver uses: 0 noop, 1 snappy, 2 zlib, 3 zstd.
    /// </summary>
    public static byte[] CompressedOf(byte[] message, byte compressorId)
    {
        var body = message.AsSpan(16).ToArray();
        byte[] compressed;
        switch (compressorId)
        {
            case 0:
                compressed = body;
                break;
            case 1:
                compressed = Snappier.Snappy.CompressToArray(body);
                break;
            case 2:
                using (var buffer = new MemoryStream())
                {
                    using (var zlib = new System.IO.Compression.ZLibStream(buffer, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
                    {
                        zlib.Write(body);
                    }

                    compressed = buffer.ToArray();
                }

                break;
            default:
                using (var zstd = new ZstdSharp.Compressor())
                {
                    compressed = zstd.Wrap(body).ToArray();
                }

                break;
        }

        var payload = new List<byte>();
        payload.AddRange(Int32(BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(12))));
        payload.AddRange(Int32(body.Length));
        payload.Add(compressorId);
        payload.AddRange(compressed);
        return Message(BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(4)), BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(8)), OpCompressed, payload);
    }

    public static byte[] Query(int requestId, string fullCollectionName, BsonDocument query, int flags = 0)
    {
        var payload = new List<byte>();
        payload.AddRange(Int32(flags));
        payload.AddRange(CString(fullCollectionName));
        payload.AddRange(Int32(0));
        payload.AddRange(Int32(-1));
        payload.AddRange(query.ToBson());
        return Message(requestId, 0, OpQuery, payload);
    }

    public static byte[] Reply(int requestId, int responseTo, int flags, long cursorId, params BsonDocument[] documents)
    {
        var payload = new List<byte>();
        payload.AddRange(Int32(flags));
        payload.AddRange(Int64(cursorId));
        payload.AddRange(Int32(0));
        payload.AddRange(Int32(documents.Length));
        foreach (var document in documents)
        {
            payload.AddRange(document.ToBson());
        }

        return Message(requestId, responseTo, OpReply, payload);
    }

    public static byte[] Compressed(int requestId, int responseTo, int originalOpCode, int compressedBytes = 40)
    {
        var payload = new List<byte>();
        payload.AddRange(Int32(originalOpCode));
        payload.AddRange(Int32(compressedBytes * 3));
        payload.Add(2); // zlib
        payload.AddRange(Enumerable.Range(0, compressedBytes).Select(i => (byte)(i * 37)));
        return Message(requestId, responseTo, OpCompressed, payload);
    }

    public static byte[] GetMore(int requestId, string fullCollectionName, long cursorId)
    {
        var payload = new List<byte>();
        payload.AddRange(Int32(0));
        payload.AddRange(CString(fullCollectionName));
        payload.AddRange(Int32(10));
        payload.AddRange(Int64(cursorId));
        return Message(requestId, 0, OpGetMore, payload);
    }

    public static byte[] Insert(int requestId, string fullCollectionName, params BsonDocument[] documents)
    {
        var payload = new List<byte>();
        payload.AddRange(Int32(0));
        payload.AddRange(CString(fullCollectionName));
        foreach (var document in documents)
        {
            payload.AddRange(document.ToBson());
        }

        return Message(requestId, 0, OpInsert, payload);
    }

    public static byte[] KillCursors(int requestId, params long[] cursorIds)
    {
        var payload = new List<byte>();
        payload.AddRange(Int32(0));
        payload.AddRange(Int32(cursorIds.Length));
        foreach (var id in cursorIds)
        {
            payload.AddRange(Int64(id));
        }

        return Message(requestId, 0, OpKillCursors, payload);
    }

    /// <summary>OP_UPDATE or OP_DELETE: zero, namespace, flags, selector (and, for an update, the update document).</summary>
    public static byte[] UpdateOrDelete(int opCode, int requestId, string fullCollectionName, BsonDocument selector, BsonDocument? update = null)
    {
        var payload = new List<byte>();
        payload.AddRange(Int32(0));
        payload.AddRange(CString(fullCollectionName));
        payload.AddRange(Int32(0));
        payload.AddRange(selector.ToBson());
        if (update is not null)
        {
            payload.AddRange(update.ToBson());
        }

        return Message(requestId, 0, opCode, payload);
    }

    /// <summary>A header alone, announcing <paramref name="length"/> bytes.</summary>
    public static byte[] Header(int length, int requestId, int responseTo, int opCode)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(header, length);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), requestId);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), responseTo);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), opCode);
        return header;
    }

    /// <summary>A reply with a cursor: <c>{cursor: {firstBatch|nextBatch: [...], id, ns}, ok: 1}</c>.</summary>
    public static BsonDocument CursorReply(int documents, long cursorId = 0, bool next = false, int padding = 10) => new()
    {
        ["cursor"] = new BsonDocument
        {
            [next ? "nextBatch" : "firstBatch"] = new BsonArray(Enumerable.Range(0, documents).Select(i => new BsonDocument { ["_id"] = i, ["pad"] = new string('x', padding) })),
            ["id"] = cursorId,
            ["ns"] = "test.users",
        },
        ["ok"] = 1.0,
    };

    public static byte[] Concat(params byte[][] frames) => frames.SelectMany(frame => frame).ToArray();

    private static byte[] Message(int requestId, int responseTo, int opCode, List<byte> payload)
    {
        var message = new byte[16 + payload.Count];
        Header(message.Length, requestId, responseTo, opCode).CopyTo(message, 0);
        payload.CopyTo(message, 16);
        return message;
    }

    private static byte[] Int32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] Int64(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] CString(string value) => [.. System.Text.Encoding.UTF8.GetBytes(value), 0];
}
