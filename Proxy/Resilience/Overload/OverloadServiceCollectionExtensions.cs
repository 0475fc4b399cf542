using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Resilience.Overload;

public static class OverloadServiceCollectionExtensions
{
    /// <summary>
    /// <c>ProxyMesh:Overload</c>: heap and in-flight limits that refuse connections and shed requests (asked by the
    /// listeners and by the first step of every request).
    /// </summary>
    public static IServiceCollection AddProxyMeshOverload(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddOptions<OverloadOptions>().Bind(validatedConfiguration.GetSection(OverloadOptions.SectionName));
        services.AddSingleton<IConfigurationValidator, OverloadConfigValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(provider => new OverloadManager(
            provider.GetRequiredService<IOptionsMonitor<OverloadOptions>>(),
            provider.GetRequiredService<Prometheus.CollectorRegistry>(),
            provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IConnectionAdmission>(provider => provider.GetRequiredService<OverloadManager>());
        services.AddSingleton<IRequestAdmission, OverloadAdmission>();
        return services;
    }
}

/// <summary>Validates <c>ProxyMesh:Overload</c>: limits not negative, a positive check interval.</summary>
internal sealed class OverloadConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        var section = candidate.GetSection(OverloadOptions.SectionName);
        var options = new OverloadOptions();
        try
        {
            section.Bind(options);
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{OverloadOptions.SectionName}: {e.Message}");
            return;
        }

        if (options.MaxHeapBytes < 0)
        {
            problems.Add($"{OverloadOptions.SectionName}:MaxHeapBytes: must not be negative (0 turns it off)");
        }

        if (options.MaxActiveRequests < 0)
        {
            problems.Add($"{OverloadOptions.SectionName}:MaxActiveRequests: must not be negative (0 turns it off)");
        }

        if (options.MaxConnections < 0)
        {
            problems.Add($"{OverloadOptions.SectionName}:MaxConnections: must not be negative (0 turns it off)");
        }

        if (options.CheckInterval <= TimeSpan.Zero)
        {
            problems.Add($"{OverloadOptions.SectionName}:CheckInterval: must be positive");
        }
    }
}
