using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// Copies upstream trailers (HTTP/1.1 chunked trailers, HTTP/2 trailers, gRPC's <c>grpc-status</c> and
/// <c>grpc-message</c>) to the client in YARP's place, after checking them as <see cref="UpstreamResponseHeaderGuard"/>
/// checks headers. A trailer value with a control character (NUL, CR, LF, any other below 0x20 but HTAB, DEL) arrives
/// after the response has started, so — as Envoy does when its codec refuses the upstream's trailers — the client's
/// stream is reset (<c>RST_STREAM</c> INTERNAL_ERROR) and no trailer reaches it; the attempt is flagged <c>UPE</c> and
/// reported to <see cref="UpstreamProtocolErrors"/>. Clients that take no trailers (Kestrel sends none over HTTP/1.1)
/// are left alone: nothing is copied to them.
/// (Left to YARP, Kestrel refused the trailer mid-copy: the stream was reset too, but flagged as a success and logged
/// as an unhandled exception on every request.) Routes that turn trailer copying off keep it off.
/// </summary>
internal sealed class UpstreamTrailerGuard(UpstreamProtocolErrors errors) : ITransformProvider
{
    /// <summary>HTTP/2 INTERNAL_ERROR, what YARP resets a client stream with when the upstream fails mid-response.</summary>
    private const int InternalError = 0x2;

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        if (context.CopyResponseTrailers is false)
        {
            return;
        }

        context.CopyResponseTrailers = false;
        var cluster = context.Route.ClusterId ?? "";
        context.AddResponseTrailersTransform(transform =>
        {
            if (transform.ProxyResponse is { } response
                && transform.HttpContext.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is { IsReadOnly: false } trailers)
            {
                CopyOrRefuse(transform.HttpContext, cluster, response, trailers);
            }

            return ValueTask.CompletedTask;
        });
    }

    private void CopyOrRefuse(HttpContext context, string cluster, HttpResponseMessage response, IHeaderDictionary trailers)
    {
        var upstream = response.TrailingHeaders;
        if (UpstreamResponseHeaderGuard.FindControlCharacter(upstream) is { } name)
        {
            var problem = $"response trailer '{name}' holds a control character (CR, LF, NUL ...)";
            errors.Report(cluster, problem, "reset the response");
            context.Features.Set<IForwarderErrorFeature>(
                new RefusedTrailers(new UpstreamProtocolException($"The upstream's {problem}; refused.")));
            if (context.Features.Get<IHttpResetFeature>() is { } reset)
            {
                reset.Reset(InternalError);
            }
            else
            {
                context.Abort();
            }

            return;
        }

        // As YARP copies them: every value, after any the route already set, hop-by-hop fields left out.
        foreach (var (field, values) in upstream.NonValidated)
        {
            if (IsHopByHop(field))
            {
                continue;
            }

            var copied = values.Count == 1 ? new StringValues(values.ToString()) : new StringValues(ToArray(values));
            trailers[field] = StringValues.Concat(trailers[field], copied);
        }
    }

    private static string[] ToArray(HeaderStringValues values)
    {
        var array = new string[values.Count];
        var i = 0;
        foreach (var value in values)
        {
            array[i++] = value;
        }

        return array;
    }

    private static bool IsHopByHop(string field) =>
        field.Equals("Connection", StringComparison.OrdinalIgnoreCase)
        || field.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
        || field.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase)
        || field.Equals("Upgrade", StringComparison.OrdinalIgnoreCase)
        || field.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase);

    /// <summary>The refusal, as YARP reports an upstream that fails while its response is relayed.</summary>
    private sealed class RefusedTrailers(Exception exception) : IForwarderErrorFeature
    {
        public ForwarderError Error => ForwarderError.ResponseBodyDestination;

        public Exception? Exception => exception;
    }
}
