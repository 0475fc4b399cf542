using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Discovery.Registration;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Discovery;

public static class DiscoveryServiceCollectionExtensions
{
    /// <summary>
    /// Clusters whose destinations come from the discovery service (<c>Metadata: { "ProxyMesh.Discovery": "&lt;service&gt;" }</c>),
    /// and the registration agent that keeps this sidecar's own service checked in.
    /// </summary>
    public static IServiceCollection AddProxyMeshDiscovery(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddOptions<DiscoveryOptions>().Bind(validatedConfiguration.GetSection(DiscoveryOptions.SectionName));
        services.AddSingleton<IConfigurationValidator, DiscoveryConfigValidator>();
        services.AddSingleton<IConfigurationValidator, DiscoveredAddressPolicyValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(Random.Shared);
        services.AddSingleton<DiscoveredDestinations>();
        services.AddSingleton<IProxyConfigProvider>(provider => provider.GetRequiredService<DiscoveredDestinations>());
        services.AddSingleton<IProxyConfigFilter, DiscoveryConfigFilter>();
        services.TryAddSingleton<DiscoveredLocalService>();
        services.AddSingleton<DiscoveryStats>();
        services.AddHostedService<DiscoveryClient>();

        services.AddOptions<RegistrationOptions>().Bind(validatedConfiguration.GetSection(RegistrationOptions.SectionName));
        services.AddSingleton<IConfigurationValidator, RegistrationConfigValidator>();
        services.AddHostedService<RegistrationAgent>();
        return services;
    }
}
