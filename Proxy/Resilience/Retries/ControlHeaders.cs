using System.Globalization;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// Envoy's per-request overrides from the calling application: <c>x-envoy-max-retries</c>, <c>x-envoy-retry-on</c>,
/// <c>x-envoy-upstream-rq-timeout-ms</c>, <c>x-envoy-upstream-rq-per-try-timeout-ms</c>. They are honoured only on
/// listeners that trust their callers (the local application), and always removed before forwarding. As in Envoy, a
/// timeout of 0 means none: <c>x-envoy-upstream-rq-timeout-ms: 0</c> disables the route timeout and
/// <c>x-envoy-upstream-rq-per-try-timeout-ms: 0</c> the per-try timeout.
/// </summary>
internal readonly record struct ControlHeaders(int? MaxRetries, RetryConditions? RetryOn, TimeSpan? RouteTimeout, TimeSpan? PerTryTimeout)
{
    private const string MaxRetriesHeader = "x-envoy-max-retries";
    private const string RetryOnHeader = "x-envoy-retry-on";
    private const string TimeoutHeader = "x-envoy-upstream-rq-timeout-ms";
    private const string PerTryTimeoutHeader = "x-envoy-upstream-rq-per-try-timeout-ms";

    /// <summary>Reads (when trusted) and strips the headers; no work at all when none is present.</summary>
    public static ControlHeaders ReadAndStrip(IHeaderDictionary headers, bool trusted)
    {
        if (!headers.ContainsKey(MaxRetriesHeader) && !headers.ContainsKey(RetryOnHeader)
            && !headers.ContainsKey(TimeoutHeader) && !headers.ContainsKey(PerTryTimeoutHeader))
        {
            return default;
        }

        var read = trusted
            ? new ControlHeaders(
                Int(headers[MaxRetriesHeader]),
                headers.TryGetValue(RetryOnHeader, out var retryOn) ? RetryConditionsParser.Parse(retryOn.ToString(), out _) : null,
                Milliseconds(headers[TimeoutHeader]),
                Milliseconds(headers[PerTryTimeoutHeader]))
            : default;
        headers.Remove(MaxRetriesHeader);
        headers.Remove(RetryOnHeader);
        headers.Remove(TimeoutHeader);
        headers.Remove(PerTryTimeoutHeader);
        return read;
    }

    private static int? Int(Microsoft.Extensions.Primitives.StringValues value) =>
        int.TryParse(value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? Math.Min(parsed, 10) : null;

    private static TimeSpan? Milliseconds(Microsoft.Extensions.Primitives.StringValues value) =>
        int.TryParse(value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? TimeSpan.FromMilliseconds(parsed) : null;
}
