using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Grpc.Bridge;

/// <summary>
/// Holds back a unary gRPC response until its trailers have arrived, so that its status can become the HTTP status
/// and response headers of an HTTP/1.1 answer: the body YARP writes and the trailers it copies are both kept here, the
/// body up to one message of <paramref name="maxMessageBytes"/> (a unary answer is one message).
/// </summary>
internal sealed class BufferedGrpcResponse(HttpContext context, IHttpResponseBodyFeature inner, bool unframe, int maxMessageBytes)
    : IHttpResponseBodyFeature, IHttpResponseTrailersFeature, IDisposable
{
    private readonly BoundedBuffer _body = new(maxMessageBytes + GrpcProtocol.FrameHeaderLength);
    private PipeWriter? _writer;
    private bool _completed;

    public Stream Stream => _body;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(_body, new StreamPipeWriterOptions(leaveOpen: true));

    public IHeaderDictionary Trailers { get; set; } = new HeaderDictionary();

    /// <summary>The upstream's answer outgrew the buffer; YARP saw a failed write and answered 502 on its own.</summary>
    public bool Overflowed => _body.Overflowed;

    /// <summary>Answers with a gRPC error of the proxy's own (HTTP 503, as for every non-zero status) in place of anything buffered.</summary>
    public void Fail(int grpcStatus, string message)
    {
        var response = context.Response;
        response.Clear();
        _body.SetLength(0);
        Trailers.Clear();
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.StatusHeader] = grpcStatus.ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers[GrpcProtocol.MessageHeader] = Uri.EscapeDataString(message);
    }

    /// <summary>
    /// As Envoy's grpc_http1_bridge: <c>grpc-status</c> and <c>grpc-message</c> (from the trailers, or from the headers of a
    /// trailers-only answer) become response headers; any status but 0, or none, turns the HTTP status into 503.
    /// With protobuf upgrade, the gRPC frame header is stripped and the content type is <c>application/x-protobuf</c>.
    /// </summary>
    public async Task CompleteAsync()
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        if (_writer is not null)
        {
            await _writer.FlushAsync();
        }

        var response = context.Response;
        if (response.StatusCode == StatusCodes.Status200OK || GrpcProtocol.IsGrpcContentType(response.ContentType))
        {
            CopyStatusToHeaders(response);
        }

        var body = _body.GetBuffer().AsMemory(0, (int)_body.Length);
        if (unframe && GrpcProtocol.IsGrpcContentType(response.ContentType))
        {
            response.ContentType = Http1BridgeMiddleware.ProtobufContentType;
            body = body.Length >= GrpcProtocol.FrameHeaderLength ? body[GrpcProtocol.FrameHeaderLength..] : Memory<byte>.Empty;
        }

        response.Headers.ContentLength = body.Length;
        if (body.Length > 0)
        {
            await inner.Stream.WriteAsync(body, context.RequestAborted);
        }

        await inner.CompleteAsync();
    }

    private void CopyStatusToHeaders(HttpResponse response)
    {
        var headers = response.Headers;
        foreach (var name in (ReadOnlySpan<string>)[GrpcProtocol.StatusHeader, GrpcProtocol.MessageHeader])
        {
            if (Trailers.TryGetValue(name, out var value))
            {
                headers[name] = value;
            }
        }

        if (!GrpcProtocol.TryReadStatus(headers[GrpcProtocol.StatusHeader], out var status) || status != 0)
        {
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        }
    }

    public void Dispose() => _body.Dispose();

    /// <summary>A memory stream that refuses to grow past its capacity, so a huge answer costs the call, not the heap.</summary>
    private sealed class BoundedBuffer(int capacity) : MemoryStream
    {
        public bool Overflowed { get; private set; }

        public override void Write(byte[] buffer, int offset, int count)
        {
            EnsureRoom(count);
            base.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            EnsureRoom(buffer.Length);
            base.Write(buffer);
        }

        public override void WriteByte(byte value)
        {
            EnsureRoom(1);
            base.WriteByte(value);
        }

        private void EnsureRoom(int count)
        {
            if (Length + count > capacity)
            {
                Overflowed = true;
                throw new IOException($"The upstream's gRPC answer is larger than {capacity} bytes.");
            }
        }
    }

    public void DisableBuffering()
    {
    }

    public Task StartAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        SendFileFallback.SendFileAsync(_body, path, offset, count, cancellationToken);
}
