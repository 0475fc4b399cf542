namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>Envoy's <c>retry_on</c> conditions (HTTP and gRPC).</summary>
[Flags]
public enum RetryConditions
{
    None = 0,
    ServerError = 1 << 0,
    GatewayError = 1 << 1,
    Reset = 1 << 2,
    ConnectFailure = 1 << 3,
    RefusedStream = 1 << 4,
    Retriable4xx = 1 << 5,
    RetriableStatusCodes = 1 << 6,
    GrpcCancelled = 1 << 7,
    GrpcDeadlineExceeded = 1 << 8,
    GrpcInternal = 1 << 9,
    GrpcResourceExhausted = 1 << 10,
    GrpcUnavailable = 1 << 11,
}

internal static class RetryConditionsParser
{
    private static readonly Dictionary<string, RetryConditions> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["5xx"] = RetryConditions.ServerError,
        ["gateway-error"] = RetryConditions.GatewayError,
        ["reset"] = RetryConditions.Reset,
        ["connect-failure"] = RetryConditions.ConnectFailure,
        ["refused-stream"] = RetryConditions.RefusedStream,
        ["retriable-4xx"] = RetryConditions.Retriable4xx,
        ["retriable-status-codes"] = RetryConditions.RetriableStatusCodes,
        ["cancelled"] = RetryConditions.GrpcCancelled,
        ["deadline-exceeded"] = RetryConditions.GrpcDeadlineExceeded,
        ["internal"] = RetryConditions.GrpcInternal,
        ["resource-exhausted"] = RetryConditions.GrpcResourceExhausted,
        ["unavailable"] = RetryConditions.GrpcUnavailable,
    };

    /// <param name="unknown">The first name that is not a condition, or null.</param>
    public static RetryConditions Parse(string? retryOn, out string? unknown)
    {
        unknown = null;
        var conditions = RetryConditions.None;
        foreach (var name in (retryOn ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (Names.TryGetValue(name, out var condition))
            {
                conditions |= condition;
            }
            else
            {
                unknown ??= name;
            }
        }

        return conditions;
    }

    public static int[] ParseStatusCodes(string? codes, out string? invalid)
    {
        invalid = null;
        var parsed = new List<int>();
        foreach (var code in (codes ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (int.TryParse(code, System.Globalization.CultureInfo.InvariantCulture, out var value) && value is >= 100 and <= 599)
            {
                parsed.Add(value);
            }
            else
            {
                invalid ??= code;
            }
        }

        return parsed.ToArray();
    }
}
