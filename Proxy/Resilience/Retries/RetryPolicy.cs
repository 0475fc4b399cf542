namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// Policy <c>Retry</c>: Envoy's route retry policy. On with no configuration: one retry on
/// <c>connect-failure,refused-stream,gateway-error</c>, to another host.
/// </summary>
public sealed class RetryPolicy
{
    public const string Name = "Retry";

    /// <summary>Comma-separated Envoy <c>retry_on</c> conditions.</summary>
    public string RetryOn { get; set; } = "connect-failure,refused-stream,gateway-error";

    public int NumRetries { get; set; } = 1;

    /// <summary>Timeout of each attempt; none by default (the route timeout covers all attempts).</summary>
    public TimeSpan? PerTryTimeout { get; set; }

    /// <summary>Fully jittered exponential back-off: retry n waits a random time in [0, (2^n − 1) × base], capped.</summary>
    public TimeSpan BackoffBaseInterval { get; set; } = TimeSpan.FromMilliseconds(25);

    /// <summary>The back-off cap; Envoy's default is ten times the base.</summary>
    public TimeSpan? BackoffMaxInterval { get; set; }

    /// <summary>Comma-separated status codes for the <c>retriable-status-codes</c> condition.</summary>
    public string RetriableStatusCodes { get; set; } = "";

    /// <summary>Request bodies up to this size are kept for replay; a larger body is streamed and never retried.</summary>
    public int MaxReplayBytes { get; set; } = 64 * 1024;

    private RetryConditions? _conditions;
    private int[]? _statusCodes;

    internal RetryConditions Conditions => _conditions ??= RetryConditionsParser.Parse(RetryOn, out _);

    internal int[] StatusCodes => _statusCodes ??= RetryConditionsParser.ParseStatusCodes(RetriableStatusCodes, out _);

    internal TimeSpan BackoffCap => BackoffMaxInterval ?? BackoffBaseInterval * 10;
}
