using System.Buffers;
using System.IO.Pipelines;
using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// Envoy's grpc_json_transcoder for routes with <c>ProxyMesh.GrpcTranscoding</c> metadata: a JSON/REST request that
/// matches one of the transcoder's <c>google.api.http</c> rules becomes a gRPC call (POST to
/// <c>/package.Service/Method</c>, <c>application/grpc</c>, <c>te: trailers</c>, one length-prefixed message) that
/// continues down the proxy pipeline to the route's cluster; the gRPC answer comes back as JSON. Requests that are
/// already gRPC, or that match no rule, pass through untranscoded, as Envoy passes them.
/// </summary>
internal sealed class GrpcTranscodingMiddleware(RequestDelegate next, GrpcTranscoders transcoders)
{
    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 128 };

    /// <summary>Requests that cannot concern this step pass straight on, without an async frame of their own.</summary>
    public Task InvokeAsync(HttpContext context) => context.GetEndpoint()?.Metadata.GetMetadata<GrpcTranscodingRoute>() is null ? next(context) : InvokeCoreAsync(context);

    private async Task InvokeCoreAsync(HttpContext context)
    {
        var transcoder = context.GetEndpoint()?.Metadata.GetMetadata<GrpcTranscodingRoute>()?.Resolve(transcoders);
        if (transcoder is null || GrpcResponseCapture.IsGrpc(context.Request.ContentType))
        {
            await next(context);
            return;
        }

        var binding = transcoder.Match(context.Request.Method, PathSegments(context), out var variableValues);
        if (binding is null)
        {
            await next(context);
            return;
        }

        byte[] frame;
        try
        {
            frame = await ReadRequestAsync(context, transcoder, binding, variableValues);
        }
        catch (TranscodingException e)
        {
            transcoder.Stats?.InvalidRequest.Inc();
            await GrpcResponseCapture.WriteStatusAsync(context, transcoder, GrpcStatusMapping.InvalidArgument, e.Message);
            return;
        }
        catch (JsonException e)
        {
            transcoder.Stats?.InvalidRequest.Inc();
            await GrpcResponseCapture.WriteStatusAsync(context, transcoder, GrpcStatusMapping.InvalidArgument, $"request body is not valid JSON: {e.Message}");
            return;
        }

        transcoder.Stats?.Transcoded.Inc();
        var bodyDetection = context.Features.Get<IHttpRequestBodyDetectionFeature>();
        var bodySize = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        RewriteAsGrpc(context, binding, frame);
        var capture = new GrpcResponseCapture(context, transcoder, binding);
        try
        {
            await next(context);
        }
        finally
        {
            capture.Uninstall();
            context.Features.Set(bodyDetection);
            context.Features.Set(bodySize);
        }

        await capture.CompleteAsync();
    }

    private static async Task<byte[]> ReadRequestAsync(HttpContext context, GrpcTranscoder transcoder, HttpBinding binding, string[] variableValues)
    {
        var parts = new List<byte[]>(4);
        if (binding.Body != BodyBinding.None)
        {
            var reader = context.Request.BodyReader;
            ReadResult read;
            while (true)
            {
                read = await reader.ReadAsync(context.RequestAborted);
                if (read.IsCompleted)
                {
                    break;
                }

                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }

            try
            {
                if (!read.Buffer.IsEmpty)
                {
                    using var document = JsonDocument.Parse(read.Buffer, JsonOptions);
                    parts.Add(binding.Body == BodyBinding.Message
                        ? transcoder.Parser.EncodeMessage(binding.Method.Input, document.RootElement)
                        : transcoder.Parser.EncodeField(binding.BodyField!, document.RootElement));
                }
            }
            finally
            {
                reader.AdvanceTo(read.Buffer.End);
            }
        }

        foreach (var (name, values) in context.Request.Query)
        {
            var fields = binding.Body == BodyBinding.Message ? null : GrpcTranscoder.ResolveFieldPath(binding.Method.Input, name, out var error);
            if (fields is null)
            {
                if (transcoder.Options.IgnoreUnknownQueryParameters)
                {
                    continue;
                }

                throw new TranscodingException(binding.Body == BodyBinding.Message
                    ? $"query parameter '{name}': the body maps to the whole request message, so query parameters cannot name fields"
                    : $"query parameter '{name}' names no field of {binding.Method.Input.FullName} that takes a value");
            }

            if (binding.BodyField is not null && fields[0] == binding.BodyField)
            {
                continue;
            }

            parts.Add(ProtoJsonParser.EncodeBoundValues(fields, values.ToArray()!));
        }

        // Path variables last: merged on the wire, they win over the same fields in the query or body.
        for (var i = 0; i < variableValues.Length; i++)
        {
            parts.Add(ProtoJsonParser.EncodeBoundValues(binding.VariableFields[i], [variableValues[i]]));
        }

        var length = 0;
        foreach (var part in parts)
        {
            length += part.Length;
        }

        var frame = new byte[5 + length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)length);
        var offset = 5;
        foreach (var part in parts)
        {
            part.CopyTo(frame, offset);
            offset += part.Length;
        }

        return frame;
    }

    private static void RewriteAsGrpc(HttpContext context, HttpBinding binding, byte[] frame)
    {
        var request = context.Request;
        request.Method = HttpMethods.Post;
        request.Path = binding.Method.GrpcPath;
        request.QueryString = QueryString.Empty;
        var headers = request.Headers;
        headers.Remove(HeaderNames.TransferEncoding);
        headers.Remove(HeaderNames.AcceptEncoding);
        headers.Remove(HeaderNames.ContentEncoding);
        headers.ContentType = "application/grpc";
        headers.TE = "trailers";
        request.ContentLength = frame.Length;
        request.Body = new MemoryStream(frame, writable: false);

        // A GET has no body as far as the server is concerned; YARP asks this feature whether to send one. YARP also
        // lifts the body size limit of gRPC requests, which Kestrel's feature refuses once the JSON body has been read.
        context.Features.Set<IHttpRequestBodyDetectionFeature>(TranscodedRequestBody.Instance);
        context.Features.Set<IHttpMaxRequestBodySizeFeature>(TranscodedRequestBody.Instance);
    }

    /// <summary>The request target's path split into percent-decoded segments (from the raw target, so an encoded '/' stays inside its segment).</summary>
    private static string[] PathSegments(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        var path = raw is { Length: > 0 } && raw[0] == '/' ? raw : context.Request.Path.Value ?? "/";
        var query = path.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            path = path[..query];
        }

        var segments = path[1..].Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            if (segments[i].Contains('%', StringComparison.Ordinal))
            {
                segments[i] = Uri.UnescapeDataString(segments[i]);
            }
        }

        return segments;
    }

    /// <summary>The transcoded body: always there, already read in full and within Kestrel's limit, so nothing is left to limit.</summary>
    private sealed class TranscodedRequestBody : IHttpRequestBodyDetectionFeature, IHttpMaxRequestBodySizeFeature
    {
        public static readonly TranscodedRequestBody Instance = new();

        public bool CanHaveBody => true;

        public bool IsReadOnly => false;

        public long? MaxRequestBodySize
        {
            get => null;
            set { }
        }
    }
}
