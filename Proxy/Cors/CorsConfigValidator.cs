using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Cors;

/// <summary>Validates <c>ProxyMesh:Cors</c>: every policy allows at least one well-formed origin and makes sense to a browser.</summary>
internal sealed class CorsConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        foreach (var section in candidate.GetSection(CorsPolicyOptions.SectionName).GetChildren())
        {
            var key = $"{CorsPolicyOptions.SectionName}:{section.Key}";
            if (string.Equals(section.Key, "disable", StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{key}: 'disable' is YARP's name for turning CORS off on a route; choose another policy name");
                continue;
            }

            CorsPolicyOptions policy;
            try
            {
                policy = section.Get<CorsPolicyOptions>() ?? new();
            }
            catch (InvalidOperationException e)
            {
                problems.Add($"{key}: {e.Message}");
                continue;
            }

            if (policy.AllowedOrigins.Length == 0)
            {
                problems.Add($"{key}:AllowedOrigins: name at least one origin (or \"*\")");
            }

            foreach (var origin in policy.AllowedOrigins)
            {
                if (origin != "*" && !IsOrigin(origin))
                {
                    problems.Add($"{key}:AllowedOrigins: '{origin}' is not an origin (scheme://host[:port], no path)");
                }
            }

            if (policy.AllowCredentials && policy.AllowedOrigins.Contains("*"))
            {
                problems.Add($"{key}:AllowCredentials: browsers refuse credentials with any origin (\"*\"); list the origins");
            }

            Tokens(policy.AllowedMethods, $"{key}:AllowedMethods", allowStar: false, problems);
            Tokens(policy.AllowedHeaders, $"{key}:AllowedHeaders", allowStar: true, problems);
            Tokens(policy.ExposedHeaders, $"{key}:ExposedHeaders", allowStar: false, problems);
            if (policy.MaxAge is < 0)
            {
                problems.Add($"{key}:MaxAge: must be 0 or more seconds");
            }
        }
    }

    private static bool IsOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && uri.AbsolutePath == "/" && !origin.EndsWith('/') && uri.Query.Length == 0 && uri.UserInfo.Length == 0;

    private static void Tokens(string[] values, string key, bool allowStar, List<string> problems)
    {
        foreach (var value in values)
        {
            if (value.Length == 0 || (value == "*" && !allowStar) || (value != "*" && !value.All(IsTokenChar)))
            {
                problems.Add($"{key}: '{value}' is not an HTTP token");
            }
        }
    }

    /// <summary>RFC 9110 token characters.</summary>
    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c);
}
