namespace ProxyMesh.Proxy.Resilience.RateLimiting;

/// <summary>
/// Envoy's local rate limit token bucket of one cluster (<c>ProxyMesh:Defaults:RateLimit</c>, overridden by
/// <c>ProxyMesh:Clusters:&lt;cluster&gt;:RateLimit</c>, and per route by route metadata <c>ProxyMesh.RateLimit.&lt;Key&gt;</c>).
/// Off unless <see cref="Enabled"/>.
/// </summary>
public sealed class RateLimitOptions
{
    public const string PolicyName = "RateLimit";

    /// <summary>The route metadata prefix: <c>ProxyMesh.RateLimit.MaxTokens</c> and so on.</summary>
    public const string RouteMetadataPrefix = "ProxyMesh.RateLimit.";

    public bool Enabled { get; set; }

    /// <summary>Tokens added to the bucket every <see cref="FillInterval"/> (Envoy <c>tokens_per_fill</c>).</summary>
    public int TokensPerFill { get; set; } = 1;

    /// <summary>Time between fills (Envoy <c>fill_interval</c>, at least 50 ms).</summary>
    public TimeSpan FillInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The bucket's size, and its tokens at start (Envoy <c>max_tokens</c>).</summary>
    public int MaxTokens { get; set; } = 1;

    /// <summary>Whether a bucket built for <paramref name="other"/> serves these options unchanged.</summary>
    public bool SameBucketAs(RateLimitOptions other) =>
        Enabled == other.Enabled && TokensPerFill == other.TokensPerFill && FillInterval == other.FillInterval && MaxTokens == other.MaxTokens;
}
