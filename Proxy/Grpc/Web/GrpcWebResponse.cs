using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Grpc.Web;

/// <summary>
/// Turns the upstream's gRPC response into gRPC-Web while YARP writes it: the content type becomes the caller's
/// gRPC-Web type, the body passes through (base64-encoded in text mode), and the trailers YARP copies are kept here and
/// written at the end of the body as a frame with flags <c>0x80</c>, as the gRPC-Web protocol defines. A trailers-only
/// upstream answer (<c>grpc-status</c> in the headers, no body) becomes such a frame too.
/// </summary>
internal sealed class GrpcWebResponse : IHttpResponseBodyFeature, IHttpResponseTrailersFeature
{
    private const byte TrailersFlag = 0x80;

    private readonly HttpContext _context;
    private readonly IHttpResponseBodyFeature _inner;
    private readonly string _webContentType;
    private PipeWriter? _writer;
    private bool _completed;

    public GrpcWebResponse(HttpContext context, IHttpResponseBodyFeature inner, bool isText)
    {
        _context = context;
        _inner = inner;
        IsText = isText;
        _webContentType = isText ? GrpcWebContentTypes.Text : GrpcWebContentTypes.Binary;
        Stream = isText ? new Base64ResponseStream(inner.Stream) : inner.Stream;
    }

    public bool IsText { get; }

    public Stream Stream { get; }

    public PipeWriter Writer => _writer ??= IsText ? PipeWriter.Create(Stream, new StreamPipeWriterOptions(leaveOpen: true)) : _inner.Writer;

    public IHeaderDictionary Trailers { get; set; } = new HeaderDictionary();

    /// <summary>Registered with <c>Response.OnStarting</c>: headers of a gRPC answer go out as gRPC-Web's.</summary>
    public static Task TranslateHeaders(object state)
    {
        var response = ((GrpcWebResponse)state)._context.Response;
        if (GrpcProtocol.IsGrpcContentType(response.ContentType))
        {
            var web = (GrpcWebResponse)state;
            response.ContentType = web._webContentType + response.ContentType![GrpcProtocol.ContentType.Length..];
            response.Headers.ContentLength = null; // the trailer frame, and base64 in text mode, change the length
        }

        return Task.CompletedTask;
    }

    /// <summary>Answers the call with a gRPC error of the proxy's own, when nothing has been sent yet.</summary>
    public void Fail(int grpcStatus, string message)
    {
        var response = _context.Response;
        response.Clear();
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        Trailers.Clear();
        Trailers[GrpcProtocol.StatusHeader] = grpcStatus.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Trailers[GrpcProtocol.MessageHeader] = Uri.EscapeDataString(message);
    }

    public async Task CompleteAsync()
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        var response = _context.Response;
        if (response.HasStarted ? IsWebContentType(response.ContentType) : IsGrpcAnswer(response))
        {
            if (Trailers.Count == 0 && !response.HasStarted)
            {
                MoveStatusToTrailers(response.Headers);
            }

            await WriteTrailersAsync();
        }

        if (_writer is not null && IsText)
        {
            await _writer.CompleteAsync();
        }

        await _inner.CompleteAsync();
    }

    private static bool IsGrpcAnswer(HttpResponse response) =>
        GrpcProtocol.IsGrpcContentType(response.ContentType) || response.Headers.ContainsKey(GrpcProtocol.StatusHeader);

    private static bool IsWebContentType(string? contentType) =>
        contentType is not null && contentType.StartsWith(GrpcWebContentTypes.Binary, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A trailers-only answer carries its status and trailing metadata in its one header block; gRPC-Web clients read
    /// them from the trailer frame. The status moves there; the metadata is copied, so it stays readable as headers too.
    /// </summary>
    private void MoveStatusToTrailers(IHeaderDictionary headers)
    {
        foreach (var (name, value) in headers)
        {
            if (!IsTransportHeader(name))
            {
                Trailers[name] = value;
            }
        }

        foreach (var name in (ReadOnlySpan<string>)[GrpcProtocol.StatusHeader, GrpcProtocol.MessageHeader, GrpcProtocol.StatusDetailsHeader])
        {
            headers.Remove(name);
        }

        if (_context.Response.ContentType is null)
        {
            _context.Response.ContentType = GrpcProtocol.ContentType;
        }
    }

    private static bool IsTransportHeader(string name) =>
        name.StartsWith("access-control-", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)
        || name.Equals("date", StringComparison.OrdinalIgnoreCase)
        || name.Equals("server", StringComparison.OrdinalIgnoreCase)
        || name.Equals("vary", StringComparison.OrdinalIgnoreCase)
        || name.Equals("grpc-encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("grpc-accept-encoding", StringComparison.OrdinalIgnoreCase);

    private async Task WriteTrailersAsync()
    {
        var length = 0;
        foreach (var (name, values) in Trailers)
        {
            foreach (var value in values)
            {
                length += Encoding.UTF8.GetByteCount(name) + 2 + Encoding.UTF8.GetByteCount(value ?? "") + 2;
            }
        }

        var frame = new byte[GrpcProtocol.FrameHeaderLength + length];
        GrpcProtocol.WriteFrameHeader(frame, TrailersFlag, length);
        var position = GrpcProtocol.FrameHeaderLength;
        foreach (var (name, values) in Trailers)
        {
            foreach (var value in values)
            {
                // Header names are case-insensitive; gRPC-Web asks for lower case in the trailer frame.
                position += Encoding.UTF8.GetBytes(name.ToLowerInvariant(), frame.AsSpan(position));
                frame[position++] = (byte)':';
                frame[position++] = (byte)' ';
                position += Encoding.UTF8.GetBytes(value ?? "", frame.AsSpan(position));
                frame[position++] = (byte)'\r';
                frame[position++] = (byte)'\n';
            }
        }

        await Stream.WriteAsync(frame, _context.RequestAborted);
        await Stream.FlushAsync(_context.RequestAborted);
    }

    public void DisableBuffering() => _inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => _inner.StartAsync(cancellationToken);

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        SendFileFallback.SendFileAsync(Stream, path, offset, count, cancellationToken);
}
