namespace ProxyMesh.Proxy.Grpc.Stats;

/// <summary>
/// Counts length-prefixed gRPC messages in a byte stream as it passes, in any chunking, without copying: it reads only
/// each 5-byte header and skips the payload the header announces.
/// </summary>
internal struct GrpcFrameCounter
{
    private int _headerBytesSeen;
    private uint _length;
    private long _payloadRemaining;

    public long Messages { get; private set; }

    public void Observe(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_payloadRemaining > 0)
            {
                var skipped = (int)Math.Min(_payloadRemaining, data.Length);
                _payloadRemaining -= skipped;
                data = data[skipped..];
                continue;
            }

            // Header byte 0 holds the flags; bytes 1–4 the big-endian message length.
            _length = _headerBytesSeen == 0 ? 0 : (_length << 8) | data[0];
            data = data[1..];
            if (++_headerBytesSeen == GrpcProtocol.FrameHeaderLength)
            {
                Messages++;
                _headerBytesSeen = 0;
                _payloadRemaining = _length;
            }
        }
    }
}
