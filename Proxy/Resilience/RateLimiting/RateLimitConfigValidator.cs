using Microsoft.Extensions.Configuration;

namespace ProxyMesh.Proxy.Resilience.RateLimiting;

/// <summary>
/// Validates <c>RateLimit</c> in the defaults and in every cluster, and every route's <c>ProxyMesh.RateLimit.*</c>
/// metadata: at least one token per fill and in the bucket, a fill interval of at least 50 ms (Envoy's minimum).
/// </summary>
internal sealed class RateLimitConfigValidator : ClusterPolicyValidator<RateLimitOptions>
{
    private static readonly TimeSpan MinimumFillInterval = TimeSpan.FromMilliseconds(50);

    protected override string Policy => RateLimitOptions.PolicyName;

    public override void Validate(IConfiguration candidate, List<string> problems)
    {
        base.Validate(candidate, problems);
        foreach (var route in candidate.GetSection("ReverseProxy:Routes").GetChildren())
        {
            var metadata = route.GetSection("Metadata");
            foreach (var entry in metadata.GetChildren())
            {
                if (!entry.Key.StartsWith(RateLimitOptions.RouteMetadataPrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var key = entry.Key[RateLimitOptions.RouteMetadataPrefix.Length..];
                var property = typeof(RateLimitOptions).GetProperty(key);
                if (property is null)
                {
                    problems.Add($"{entry.Path}: unknown key (known: Enabled, TokensPerFill, FillInterval, MaxTokens)");
                    continue;
                }

                var options = new RateLimitOptions();
                try
                {
                    LocalRateLimits.RouteMetadata(new Dictionary<string, string> { [entry.Key] = entry.Value ?? "" }).Bind(options);
                }
                catch (InvalidOperationException)
                {
                    problems.Add($"{entry.Path}: '{entry.Value}' is not a valid {(property.PropertyType == typeof(TimeSpan) ? "time span (hh:mm:ss.fff)" : property.PropertyType.Name)}");
                    continue;
                }

                var before = problems.Count;
                Check(options, metadata.Path, problems);
                for (var i = before; i < problems.Count; i++)
                {
                    // Name the metadata key as written: ProxyMesh.RateLimit.<Key>.
                    problems[i] = problems[i].Replace($"{metadata.Path}:", $"{metadata.Path}:{RateLimitOptions.RouteMetadataPrefix}", StringComparison.Ordinal);
                }
            }
        }
    }

    protected override void Check(RateLimitOptions options, string prefix, List<string> problems)
    {
        if (options.TokensPerFill < 1)
        {
            problems.Add($"{prefix}:TokensPerFill: must be at least 1");
        }

        if (options.MaxTokens < 1)
        {
            problems.Add($"{prefix}:MaxTokens: must be at least 1");
        }

        if (options.FillInterval < MinimumFillInterval)
        {
            problems.Add($"{prefix}:FillInterval: must be at least 00:00:00.050");
        }
    }
}
