using System.Buffers;
using System.Net.Http.Headers;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// Refuses, before YARP copies anything to the client, an upstream response whose headers break the protocol as Envoy's
/// HTTP/1 codec (Balsa) and HTTP/2 codec refuse it — a 502 with flag <c>UPE</c>, reported to
/// <see cref="UpstreamProtocolErrors"/> — instead of leaving the outcome to whichever layer happens to notice (Kestrel
/// refusing a header mid-copy, as a 502 flagged <c>UR</c> and a stack trace per request):
/// <list type="bullet">
/// <item>a control character in a value — NUL, CR, LF (seen through <see cref="FieldValueEncoding"/>), any other below
/// 0x20 but HTAB, DEL (<c>HeaderUtility::headerValueIsValid</c>; RFC 9110 §5.5, RFC 9113 §8.2.1);</item>
/// <item>more than one <c>Content-Length</c>, or one that is not a number (Balsa's
/// <c>disallow_multiple_content_length</c>, <c>UNPARSABLE_CONTENT_LENGTH</c>);</item>
/// <item><c>Content-Length</c> together with <c>Transfer-Encoding</c> (Envoy's default, <c>allow_chunked_length: false</c>;
/// RFC 9112 §6.3: "ought to be handled as an error").</item>
/// </list>
/// A bare LF ends a header line in HTTP/1.1 for .NET's client as for Balsa, nginx and haproxy (RFC 9112 §2.2), so it
/// never reaches a value; the line after it is a header of its own, and is checked as one. Answers the HTTP client
/// already refused to parse are reported the same way.
/// </summary>
internal sealed class UpstreamResponseHeaderGuard(HttpMessageHandler inner, string cluster, UpstreamProtocolErrors errors)
    : DelegatingHandler(inner)
{
    private const string Refused = "answered 502";

    private static readonly SearchValues<char> ControlCharacters = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000A\u000B\u000C\u000D\u000E\u000F"
        + "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\u007F"
        + FieldValueEncoding.NulPicture + FieldValueEncoding.CarriageReturnPicture + FieldValueEncoding.LineFeedPicture);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.InvalidResponse)
        {
            errors.Report(cluster, e.Message, Refused);
            throw;
        }

        if (FindProblem(response) is { } problem)
        {
            response.Dispose();
            errors.Report(cluster, problem, Refused);
            throw new UpstreamProtocolException($"The upstream's {problem}; refused.");
        }

        return response;
    }

    /// <returns>What breaks the protocol in the response's headers, null when nothing does.</returns>
    internal static string? FindProblem(HttpResponseMessage response)
    {
        if ((FindControlCharacter(response.Headers) ?? FindControlCharacter(response.Content.Headers)) is { } name)
        {
            return $"response header '{name}' holds a control character (CR, LF, NUL ...)";
        }

        if (!response.Content.Headers.NonValidated.TryGetValues("Content-Length", out var lengths))
        {
            return null;
        }

        if (lengths.Count != 1 || !IsNumber(lengths.ToString()))
        {
            return $"response has a Content-Length of '{lengths}' (several, or not a number)";
        }

        return response.Headers.NonValidated.Contains("Transfer-Encoding")
            ? "response has both Content-Length and Transfer-Encoding"
            : null;
    }

    /// <returns>The name of the first field whose value holds a control character, null when none does.</returns>
    internal static string? FindControlCharacter(HttpHeaders headers)
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

    private static bool IsNumber(string value) => value.Length > 0 && !value.AsSpan().ContainsAnyExceptInRange('0', '9');
}
