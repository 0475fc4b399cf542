namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// Reads the protobuf wire format in place, without copying: tags, varints, fixed-width values and length-delimited
/// spans. Offsets stay relative to the buffer the reader was made over, so callers can remember where a field's value
/// lies and come back to it.
/// </summary>
internal ref struct WireReader(ReadOnlySpan<byte> buffer)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;

    public int Position { get; private set; }

    public readonly bool End => Position >= _buffer.Length;

    public uint ReadTag()
    {
        var tag = (uint)ReadVarint();
        if (tag >> 3 == 0)
        {
            throw new InvalidDataException("invalid protobuf tag (field number 0)");
        }

        return tag;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (Position >= _buffer.Length)
            {
                throw new InvalidDataException("truncated protobuf varint");
            }

            var b = _buffer[Position++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }

        throw new InvalidDataException("malformed protobuf varint");
    }

    public uint ReadFixed32() => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public ulong ReadFixed64() => System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    /// <summary>Reads a length prefix and returns where the value starts; the reader moves past the value.</summary>
    public int ReadLengthDelimited(out int length)
    {
        var declared = ReadVarint();
        if (declared > (ulong)(_buffer.Length - Position))
        {
            throw new InvalidDataException("truncated protobuf length-delimited field");
        }

        length = (int)declared;
        var start = Position;
        Position += length;
        return start;
    }

    public void Skip(WireKind kind)
    {
        switch (kind)
        {
            case WireKind.Varint:
                ReadVarint();
                break;
            case WireKind.Fixed64:
                Take(8);
                break;
            case WireKind.LengthDelimited:
                ReadLengthDelimited(out _);
                break;
            case WireKind.Fixed32:
                Take(4);
                break;
            default:
                throw new InvalidDataException($"unsupported protobuf wire type {(int)kind}");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (_buffer.Length - Position < count)
        {
            throw new InvalidDataException("truncated protobuf fixed-width field");
        }

        var span = _buffer.Slice(Position, count);
        Position += count;
        return span;
    }
}

/// <summary>The protobuf wire types this transcoder reads (groups are proto2-only and not supported).</summary>
internal enum WireKind
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    Fixed32 = 5,
}
