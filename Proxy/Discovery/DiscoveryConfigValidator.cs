using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>Validates <c>ProxyMesh:Discovery</c> and every cluster that takes its destinations from discovery.</summary>
internal sealed class DiscoveryConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        var section = candidate.GetSection(DiscoveryOptions.SectionName);
        DiscoveryOptions options;
        try
        {
            options = section.Get<DiscoveryOptions>() ?? new DiscoveryOptions();
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{DiscoveryOptions.SectionName}: {e.Message}");
            return;
        }

        if (options.Url is not null && !IsHttpUrl(options.Url))
        {
            problems.Add($"{DiscoveryOptions.SectionName}:Url: '{options.Url}' is not an absolute http:// or https:// URL");
        }

        Positive(options.RefreshInterval, "RefreshInterval", problems);
        Positive(options.RequestTimeout, "RequestTimeout", problems);
        if (options.MaxAnswerBytes < 1)
        {
            problems.Add($"{DiscoveryOptions.SectionName}:MaxAnswerBytes: must be at least 1");
        }

        if (options.MaxHosts < 1)
        {
            problems.Add($"{DiscoveryOptions.SectionName}:MaxHosts: must be at least 1");
        }

        if (options.AbsentHostGrace < TimeSpan.Zero)
        {
            problems.Add($"{DiscoveryOptions.SectionName}:AbsentHostGrace: must not be negative");
        }

        foreach (var cluster in candidate.GetSection("ReverseProxy:Clusters").GetChildren())
        {
            var service = cluster[$"Metadata:{DiscoveryMetadata.Service}"];
            if (service is null)
            {
                continue;
            }

            var key = $"{cluster.Path}:Metadata:{DiscoveryMetadata.Service}";
            if (!DiscoveryTarget.ServiceName().IsMatch(service))
            {
                problems.Add($"{key}: '{service}' is not a service name (letters, digits, '.', '_', '-')");
            }

            if (options.Url is null)
            {
                problems.Add($"{key}: discovery clusters need {DiscoveryOptions.SectionName}:Url");
            }

            if (cluster.GetSection("Destinations").GetChildren().Any())
            {
                problems.Add($"{cluster.Path}:Destinations: a discovery cluster gets its destinations from discovery; remove them");
            }

            var scheme = cluster[$"Metadata:{DiscoveryMetadata.Scheme}"];
            if (scheme is not null && scheme != Uri.UriSchemeHttp && scheme != Uri.UriSchemeHttps && scheme != "tcp" && scheme != "tls")
            {
                problems.Add($"{cluster.Path}:Metadata:{DiscoveryMetadata.Scheme}: '{scheme}' must be http, https, tcp or tls");
            }
        }
    }

    private static void Positive(TimeSpan value, string name, List<string> problems)
    {
        if (value <= TimeSpan.Zero)
        {
            problems.Add($"{DiscoveryOptions.SectionName}:{name}: must be positive");
        }
    }

    private static bool IsHttpUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
