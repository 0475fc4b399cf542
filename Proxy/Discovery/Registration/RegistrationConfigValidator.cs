using System.Net;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Discovery.Registration;

/// <summary>Validates <c>ProxyMesh:Registration</c> when it is active.</summary>
internal sealed class RegistrationConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        const string key = RegistrationOptions.SectionName;
        RegistrationOptions options;
        try
        {
            options = candidate.GetSection(key).Get<RegistrationOptions>() ?? new RegistrationOptions();
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{key}: {e.Message}");
            return;
        }

        if (!options.IsActive)
        {
            return;
        }

        if (!IPAddress.TryParse(options.Ip, out _))
        {
            problems.Add($"{key}:Ip: '{options.Ip}' is not an IP address");
        }

        if (options.Port is not (>= 1 and <= 65535))
        {
            problems.Add($"{key}:Port: must be 1-65535");
        }

        var url = options.DiscoveryUrl ?? candidate[$"{DiscoveryOptions.SectionName}:Url"];
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            problems.Add($"{key}:DiscoveryUrl: needs an absolute http:// URL here or in {DiscoveryOptions.SectionName}:Url");
        }

        var service = options.Service ?? candidate[$"{ProxyMeshOptions.SectionName}:ServiceName"] ?? new ProxyMeshOptions().ServiceName;
        if (!DiscoveryTarget.ServiceName().IsMatch(service))
        {
            problems.Add($"{key}:Service: '{service}' is not a service name (letters, digits, '.', '_', '-')");
        }

        if (options.Interval <= TimeSpan.Zero)
        {
            problems.Add($"{key}:Interval: must be positive");
        }

        if (options.Tags.LoadBalancingWeight is < 1 or > 100)
        {
            problems.Add($"{key}:Tags:LoadBalancingWeight: must be 1-100");
        }
    }
}
