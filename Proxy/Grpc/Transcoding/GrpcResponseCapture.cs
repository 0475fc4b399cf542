using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Pipelines;
using Google.Protobuf;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// Stands in for the response body and trailers while the transcoded call runs through the proxy, collecting the
/// gRPC frames and trailers; then answers the client with JSON. Unary: the message (or its <c>response_body</c>
/// field) with 200, or a <c>google.rpc.Status</c> JSON body with the HTTP status Envoy maps the gRPC status to,
/// from trailers or a trailers-only answer. Server streaming: a JSON array written message by message as frames
/// arrive (Envoy's default); an error after the first message aborts the response so the client sees it cut short.
/// Answers that are not gRPC (the proxy's own plain-text replies) pass through unchanged.
/// </summary>
internal sealed class GrpcResponseCapture : Stream, IHttpResponseBodyFeature, IHttpResponseTrailersFeature
{
    /// <summary>Largest upstream message transcoded; a larger one fails the call rather than buffering without bound.</summary>
    public const int MaxMessageBytes = 64 * 1024 * 1024;

    private readonly HttpContext _context;
    private readonly GrpcTranscoder _transcoder;
    private readonly HttpBinding _binding;
    private readonly IHttpResponseBodyFeature _originalBody;
    private readonly IHttpResponseTrailersFeature? _originalTrailers;
    private byte[] _buffer = new byte[4096];
    private int _start;
    private int _end;
    private PipeWriter? _writer;
    private bool _tooLarge;
    private int _messagesStreamed;

    public GrpcResponseCapture(HttpContext context, GrpcTranscoder transcoder, HttpBinding binding)
    {
        _context = context;
        _transcoder = transcoder;
        _binding = binding;
        _originalBody = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        _originalTrailers = context.Features.Get<IHttpResponseTrailersFeature>();
        context.Features.Set<IHttpResponseBodyFeature>(this);
        context.Features.Set<IHttpResponseTrailersFeature>(this);
    }

    public IHeaderDictionary Trailers { get; set; } = new HeaderDictionary();

    Stream IHttpResponseBodyFeature.Stream => this;

    PipeWriter IHttpResponseBodyFeature.Writer => _writer ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public static bool IsGrpc(string? contentType) =>
        contentType is not null && contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase)
        && (contentType.Length == 16 || contentType[16] is '+' or ';');

    public void Uninstall()
    {
        _context.Features.Set(_originalBody);
        _context.Features.Set(_originalTrailers);
    }

    /// <summary>Writes the JSON answer once the proxied call has finished.</summary>
    public async Task CompleteAsync()
    {
        if (_writer is not null)
        {
            await _writer.FlushAsync();
        }

        var response = _context.Response;
        if (_messagesStreamed > 0)
        {
            await StreamFramesAsync();
            if (GrpcStatus(out _) == GrpcStatusMapping.Ok && !_tooLarge)
            {
                await _originalBody.Stream.WriteAsync(" ]"u8.ToArray());
            }
            else
            {
                if (_tooLarge)
                {
                    _transcoder.Stats?.InvalidResponse.Inc();
                }

                // What was sent reaches the client first; then the cut, so the array is never mistaken for complete.
                await _originalBody.Stream.FlushAsync();
                _context.Abort();
            }

            return;
        }

        if (!IsGrpc(response.ContentType))
        {
            if (_context.Features.Get<IForwarderErrorFeature>() is { } failure)
            {
                var status = response.StatusCode >= 400 ? response.StatusCode : StatusCodes.Status502BadGateway;
                var code = status == StatusCodes.Status504GatewayTimeout ? GrpcStatusMapping.DeadlineExceeded : GrpcStatusMapping.Unavailable;
                await WriteStatusAsync(_context, _transcoder, code, $"upstream request failed: {failure.Error}", httpStatus: status);
                return;
            }

            // Not gRPC: the proxy's own reply (rate limited, no healthy upstream...); the client gets it as it is.
            await _originalBody.Stream.WriteAsync(_buffer.AsMemory(_start, _end - _start));
            return;
        }

        if (_tooLarge)
        {
            _transcoder.Stats?.InvalidResponse.Inc();
            await WriteStatusAsync(_context, _transcoder, GrpcStatusMapping.Internal, $"upstream message larger than {MaxMessageBytes} bytes");
            return;
        }

        var grpcStatus = GrpcStatus(out var grpcMessage);
        if (grpcStatus != GrpcStatusMapping.Ok)
        {
            await WriteStatusAsync(_context, _transcoder, grpcStatus, grpcMessage, DetailsBin());
            return;
        }

        var json = new JsonText(_end - _start + 64);
        try
        {
            if (_binding.Method.ServerStreaming)
            {
                json.OpenArray();
                var any = false;
                while (TryTakeFrame(out var message))
                {
                    if (any)
                    {
                        json.Separator();
                    }

                    Render(json, message.Span);
                    any = true;
                }

                json.CloseArray(any);
            }
            else
            {
                if (!TryTakeFrame(out var message))
                {
                    _transcoder.Stats?.InvalidResponse.Inc();
                    await WriteStatusAsync(_context, _transcoder, GrpcStatusMapping.Internal, "upstream answered OK without a message");
                    return;
                }

                Render(json, message.Span);
            }
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException or InvalidProtocolBufferException or ArgumentException)
        {
            _transcoder.Stats?.InvalidResponse.Inc();
            await WriteStatusAsync(_context, _transcoder, GrpcStatusMapping.Internal, $"cannot transcode the upstream response: {e.Message}");
            return;
        }

        ToJsonHeaders(response);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentLength = json.Length;
        await _originalBody.Stream.WriteAsync(json.Written);
    }

    /// <summary>Answers with a <c>google.rpc.Status</c> JSON body and the HTTP status for <paramref name="grpcStatus"/>.</summary>
    public static async Task WriteStatusAsync(HttpContext context, GrpcTranscoder transcoder, int grpcStatus, string message, byte[]? detailsBin = null, int? httpStatus = null)
    {
        var json = new JsonText();
        var rendered = false;
        if (detailsBin is not null)
        {
            try
            {
                transcoder.Formatter.WriteMessage(json, transcoder.StatusLayout, detailsBin);
                rendered = true;
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or InvalidProtocolBufferException or ArgumentException)
            {
                json.Clear();
            }
        }

        if (!rendered)
        {
            var status = new Google.Rpc.Status { Code = grpcStatus, Message = message };
            transcoder.Formatter.WriteMessage(json, transcoder.StatusLayout, status.ToByteArray());
        }

        var response = context.Response;
        response.Clear();
        response.StatusCode = httpStatus ?? GrpcStatusMapping.ToHttpStatus(grpcStatus);
        response.ContentType = "application/json";
        response.ContentLength = json.Length;
        await response.Body.WriteAsync(json.Written);
    }

    public override void Write(byte[] buffer, int offset, int count) => Append(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer) => Append(buffer);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Append(buffer.Span);
        if (_binding.Method.ServerStreaming && IsGrpc(_context.Response.ContentType))
        {
            await StreamFramesAsync(cancellationToken);
        }
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _messagesStreamed > 0 ? _originalBody.Stream.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    void IHttpResponseBodyFeature.DisableBuffering()
    {
    }

    Task IHttpResponseBodyFeature.StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHttpResponseBodyFeature.SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken) =>
        SendFileFallback.SendFileAsync(this, path, offset, count, cancellationToken);

    Task IHttpResponseBodyFeature.CompleteAsync() => _writer?.FlushAsync().AsTask() ?? Task.CompletedTask;

    private async Task StreamFramesAsync(CancellationToken cancellationToken = default)
    {
        while (!_tooLarge && TryTakeFrame(out var message))
        {
            var json = new JsonText(message.Length + 16);
            if (_messagesStreamed == 0)
            {
                ToJsonHeaders(_context.Response);
                _context.Response.StatusCode = StatusCodes.Status200OK;
                json.OpenArray();
            }
            else
            {
                json.Separator();
            }

            try
            {
                Render(json, message.Span);
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or InvalidProtocolBufferException or ArgumentException)
            {
                _tooLarge = true;
                if (_messagesStreamed == 0)
                {
                    return;
                }

                throw;
            }

            _messagesStreamed++;
            await _originalBody.Stream.WriteAsync(json.Written, cancellationToken);
        }
    }

    private void Render(JsonText json, ReadOnlySpan<byte> message)
    {
        var output = _binding.Method.Output;
        if (_binding.ResponseBodyField is { } field)
        {
            _transcoder.Formatter.WriteField(json, output, field, message);
        }
        else
        {
            _transcoder.Formatter.WriteMessage(json, output, message);
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_tooLarge)
        {
            return;
        }

        if (_end + data.Length > _buffer.Length)
        {
            var live = _end - _start;
            if (live + data.Length > MaxMessageBytes + 5 + 4096)
            {
                _tooLarge = true;
                return;
            }

            var target = live + data.Length <= _buffer.Length / 2 ? _buffer : new byte[Math.Max(_buffer.Length * 2, live + data.Length)];
            _buffer.AsSpan(_start, live).CopyTo(target);
            _buffer = target;
            _start = 0;
            _end = live;
        }

        data.CopyTo(_buffer.AsSpan(_end));
        _end += data.Length;
    }

    /// <summary>Takes one complete length-prefixed gRPC message off the buffer, decompressing it if flagged.</summary>
    private bool TryTakeFrame(out ReadOnlyMemory<byte> message)
    {
        message = default;
        if (_end - _start < 5)
        {
            return false;
        }

        var flag = _buffer[_start];
        var length = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start + 1));
        if (length > MaxMessageBytes)
        {
            _tooLarge = true;
            return false;
        }

        if (_end - _start - 5 < length)
        {
            return false;
        }

        message = _buffer.AsMemory(_start + 5, (int)length);
        _start += 5 + (int)length;
        if (flag == 1)
        {
            message = Decompress(message);
        }
        else if (flag != 0)
        {
            throw new InvalidDataException($"gRPC frame with unknown flags {flag}");
        }

        return true;
    }

    private ReadOnlyMemory<byte> Decompress(ReadOnlyMemory<byte> compressed)
    {
        var encoding = _context.Response.Headers["grpc-encoding"].ToString();
        using var input = new MemoryStream(compressed.ToArray());
        using Stream decoder = encoding switch
        {
            "gzip" => new GZipStream(input, CompressionMode.Decompress),
            "deflate" => new ZLibStream(input, CompressionMode.Decompress),
            _ => throw new InvalidDataException($"compressed gRPC message with unsupported grpc-encoding '{encoding}'"),
        };
        using var output = new MemoryStream();
        decoder.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>The gRPC status from the trailers, or from the headers of a trailers-only answer; INTERNAL when there is none.</summary>
    private int GrpcStatus(out string message)
    {
        var headers = _context.Response.Headers;
        var source = Trailers.ContainsKey("grpc-status") ? Trailers : headers;
        message = Uri.UnescapeDataString(source["grpc-message"].ToString());
        if (!int.TryParse(source["grpc-status"], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var status))
        {
            message = "upstream answered without a grpc-status";
            return GrpcStatusMapping.Internal;
        }

        return status;
    }

    private byte[]? DetailsBin()
    {
        var value = Trailers.TryGetValue("grpc-status-details-bin", out var trailer) ? trailer.ToString() : _context.Response.Headers["grpc-status-details-bin"].ToString();
        if (value.Length == 0)
        {
            return null;
        }

        var padded = value.Length % 4 == 0 ? value : value + new string('=', 4 - value.Length % 4);
        try
        {
            return Convert.FromBase64String(padded);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static void ToJsonHeaders(HttpResponse response)
    {
        var headers = response.Headers;
        headers.Remove("grpc-status");
        headers.Remove("grpc-message");
        headers.Remove("grpc-status-details-bin");
        headers.Remove("grpc-encoding");
        headers.Remove("grpc-accept-encoding");
        headers.Remove(HeaderNames.ContentLength);
        headers.ContentType = "application/json";
    }
}
