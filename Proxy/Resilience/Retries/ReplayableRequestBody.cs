using System.Buffers;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// The downstream request body, streamed upstream as the upstream reads it, with a copy kept as it passes (up to a limit)
/// so that a retry can send it again. It never reads ahead: the upstream sees the body as the client sends it. Once more
/// than the limit has been read the body can no longer be replayed, and no retry is made: a request is never sent
/// twice with a truncated body.
/// </summary>
internal sealed class ReplayableRequestBody(Stream inner, int limit) : Stream
{
    private byte[] _kept = ArrayPool<byte>.Shared.Rent(Math.Min(limit, 4096));
    private int _keptLength;
    private int _replayPosition = -1;
    private bool _complete;

    /// <summary>False once the body outgrew the limit.</summary>
    public bool CanReplay { get; private set; } = true;

    /// <summary>The client's body stream.</summary>
    public Stream Inner => inner;

    /// <summary>For a body known in advance to be larger than the limit.</summary>
    public void MarkUnreplayable() => CanReplay = false;

    /// <summary>Starts the body again from its first byte; what was not read yet still comes from the client.</summary>
    public void Rewind() => _replayPosition = 0;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (TryReplay(buffer, out var replayed))
        {
            return replayed;
        }

        if (_complete)
        {
            return 0;
        }

        var read = inner.Read(buffer);
        Keep(buffer[..read]);
        _complete = read == 0 && !buffer.IsEmpty;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (TryReplay(buffer.Span, out var replayed))
        {
            return replayed;
        }

        if (_complete)
        {
            return 0;
        }

        var read = await inner.ReadAsync(buffer, cancellationToken);
        Keep(buffer.Span[..read]);
        _complete = read == 0 && !buffer.IsEmpty;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private bool TryReplay(Span<byte> buffer, out int replayed)
    {
        replayed = 0;
        if (_replayPosition >= 0 && _replayPosition < _keptLength && buffer.IsEmpty)
        {
            // A zero-byte read (YARP waits for data this way): kept bytes are ready, answer at once.
            return true;
        }

        if (_replayPosition < 0 || _replayPosition >= _keptLength)
        {
            _replayPosition = -1;
            return false;
        }

        replayed = Math.Min(buffer.Length, _keptLength - _replayPosition);
        _kept.AsSpan(_replayPosition, replayed).CopyTo(buffer);
        _replayPosition += replayed;
        return true;
    }

    private void Keep(ReadOnlySpan<byte> read)
    {
        if (!CanReplay || read.IsEmpty)
        {
            return;
        }

        if (_keptLength + read.Length > limit)
        {
            CanReplay = false;
            return;
        }

        if (_keptLength + read.Length > _kept.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(limit, Math.Max(_kept.Length * 2, _keptLength + read.Length)));
            _kept.AsSpan(0, _keptLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_kept);
            _kept = larger;
        }

        read.CopyTo(_kept.AsSpan(_keptLength));
        _keptLength += read.Length;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _kept.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_kept);
            _kept = [];
        }

        base.Dispose(disposing);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
