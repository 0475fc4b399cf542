using Microsoft.Extensions.Configuration.Memory;
using ProxyMesh.Discovery.Api;
using ProxyMesh.Discovery.Configuration;
using ProxyMesh.Discovery.Observability;
using ProxyMesh.Discovery.Stores;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Discovery;

/// <summary>Composes the discovery service: one <c>Add…</c> per capability, then its endpoints, all on one listener.</summary>
public static class DiscoveryApplication
{
    /// <summary>Lowest-priority defaults (any configuration overrides them): the framework logs warnings and up.</summary>
    private static readonly Dictionary<string, string?> QuietFrameworkLogs = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
    };

    /// <param name="args">Command-line arguments: <c>--config &lt;file.json&gt;</c>, <c>--Discovery:Key=value</c>.</param>
    /// <param name="contentRoot">Where appsettings*.json and a relative <c>Discovery:Embedded:Path</c> are found; the current directory by default.</param>
    /// <param name="configureServices">Last word on the services, e.g. a test's <see cref="TimeProvider"/>.</param>
    /// <exception cref="InvalidConfigurationException">The configuration cannot be served.</exception>
    public static WebApplication Build(string[] args, string? contentRoot = null, Action<IServiceCollection>? configureServices = null)
    {
        var builder = CreateBuilder(args, contentRoot);
        var options = builder.AddDiscoveryConfiguration(args);
        builder.Services.AddDiscoveryObservability();
        builder.Services.AddDiscoveryStore(options);
        builder.Services.AddDiscoveryApi();
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.Services.GetRequiredService<IRegistrationStore>(); // opens the embedded store's file now: a bad one stops start-up here
        app.MapDiscoveryApi();
        app.MapDiscoveryMetrics();
        return app;
    }

    private static WebApplicationBuilder CreateBuilder(string[] args, string? contentRoot)
    {
        try
        {
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = contentRoot });
            builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = QuietFrameworkLogs });
            return builder;
        }
        catch (InvalidDataException e) when (e.InnerException is FormatException)
        {
            // The host reads appsettings*.json itself; its message names the file.
            throw new InvalidConfigurationException([$"invalid JSON: {e.Message} {e.GetBaseException().Message}"]);
        }
    }
}
