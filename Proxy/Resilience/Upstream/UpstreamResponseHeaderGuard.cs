using System.Buffers;
using System.Net.Http.Headers;
using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// Refuses upstream responses whose header values carry control characters — CR, LF, NUL or any other below 0x20
/// but HTAB, and DEL — before YARP copies them to the client. Envoy's codecs reject such a response as a protocol
/// error (<c>HeaderUtility::headerValueIsValid</c>; RFC 9110 §5.5 field values) and answer 502 with flag <c>UPE</c>;
/// so does this proxy, instead of leaving the outcome to whichever layer happens to notice (Kestrel refusing the
/// header mid-copy). Answers the HTTP client already refused to parse are counted the same way. Each is counted in
/// <c>proxymesh_upstream_cx_protocol_error_total{cluster}</c> and logged at most once a minute per cluster.
/// </summary>
internal sealed partial class UpstreamResponseHeaderGuard(
    HttpMessageHandler inner, string cluster, UpstreamConnectionStats.ClusterSeries series, ThrottledLog throttle, ILogger logger)
    : DelegatingHandler(inner)
{
    private static readonly SearchValues<char> ControlCharacters = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000A\u000B\u000C\u000D\u000E\u000F"
        + "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\u007F");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.InvalidResponse)
        {
            Report(e.Message);
            throw;
        }

        if ((FindInvalid(response.Headers) ?? FindInvalid(response.Content.Headers)) is { } name)
        {
            response.Dispose();
            var problem = $"response header '{name}' holds a control character (CR, LF, NUL ...)";
            Report(problem);
            throw new UpstreamProtocolException($"The upstream's {problem}; refused.");
        }

        return response;
    }

    private static string? FindInvalid(HttpHeaders headers)
    {
        foreach (var (name, values) in headers.NonValidated)
        {
            foreach (var value in values)
            {
                if (value.AsSpan().ContainsAny(ControlCharacters))
                {
                    return name;
                }
            }
        }

        return null;
    }

    private void Report(string problem)
    {
        series.ProtocolErrors.Inc();
        if (throttle.ShouldLog(cluster))
        {
            LogRefused(logger, cluster, problem);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster {Cluster} answered with a response that breaks the HTTP protocol ({Problem}); answered 502 (logged at most once a minute per cluster, see proxymesh_upstream_cx_protocol_error_total).")]
    private static partial void LogRefused(ILogger logger, string cluster, string problem);
}
