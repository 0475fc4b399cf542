using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// What the access log needs to know about one request, gathered as it passes through the proxy: when it started, and
/// the bytes received (counted by <see cref="CountingRequestBody"/>) and sent. It is the downstream response body that
/// counts the bytes written — one object rather than two. It stands in for the response body feature, not just its
/// stream: starting, completing (which sends trailers and ends an HTTP/2 stream at once, and
/// leaves a trailers-only gRPC answer trailers-only) and disabling buffering reach the server unchanged.
/// </summary>
internal sealed class RequestObservation(IHttpResponseBodyFeature feature, DateTimeOffset startTime, long startTimestamp) : Stream, IHttpResponseBodyFeature
{
    private readonly Stream inner = feature.Stream;
    private long _bytesReceived;
    private long _bytesSent;
    private System.IO.Pipelines.PipeWriter? _writer;

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public DateTimeOffset StartTime { get; } = startTime;

    public long StartTimestamp { get; } = startTimestamp;

    /// <summary>The response body feature this one stands in for, restored when the request ends.</summary>
    public IHttpResponseBodyFeature ResponseBodyFeature => feature;

    /// <summary>The request body that <see cref="CountingRequestBody"/> wraps; null when the request has none.</summary>
    public Stream? RequestBody { get; set; }

    public void Received(int bytes) => Interlocked.Add(ref _bytesReceived, bytes);

    Stream IHttpResponseBodyFeature.Stream => this;

    public System.IO.Pipelines.PipeWriter Writer => _writer ??= System.IO.Pipelines.PipeWriter.Create(this, new System.IO.Pipelines.StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering() => feature.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => feature.StartAsync(cancellationToken);

    public async Task CompleteAsync()
    {
        if (_writer is not null)
        {
            await _writer.FlushAsync();
        }

        await feature.CompleteAsync();
    }

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        SendFileFallback.SendFileAsync(this, path, offset, count, cancellationToken);

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        Interlocked.Add(ref _bytesSent, buffer.Length);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken);
        Interlocked.Add(ref _bytesSent, buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
