using Microsoft.Extensions.Configuration.Json;

namespace ProxyMesh.Proxy.Configuration;

public static class ConfigurationBuilderExtensions
{
    /// <summary>
    /// Layers the configuration (appsettings.json, appsettings.{Environment}.json, the <c>--config</c> file, then
    /// environment variables and the command line), makes every JSON file keep its last good contents on a bad
    /// reload, and registers the validated view that ProxyMesh serves from.
    /// </summary>
    /// <returns>The validated configuration view.</returns>
    public static IConfiguration AddProxyMeshConfiguration(this WebApplicationBuilder builder, string[] args)
    {
        var stats = new ConfigUpdateStats();
        var sources = builder.Configuration.Sources;
        var afterLastFile = 0;
        for (var i = 0; i < sources.Count; i++)
        {
            if (sources[i] is JsonConfigurationSource { Path: not null } json)
            {
                var fullPath = Path.GetFullPath(json.Path, builder.Environment.ContentRootPath);
                sources[i] = new GuardedJsonFileConfigurationSource(fullPath, json.Optional, json.Path, stats);
                afterLastFile = i + 1;
            }
        }

        var configFile = ConfigFileArgument.Find(args);
        if (configFile is not null)
        {
            sources.Insert(afterLastFile, new GuardedJsonFileConfigurationSource(configFile, optional: false, "--config", stats));
        }

        var validated = new ValidatedConfiguration(builder.Configuration, stats);
        builder.Services.AddSingleton(stats);
        builder.Services.AddSingleton(validated);
        builder.Services.AddOptions<ProxyMeshOptions>().Bind(validated.View.GetSection(ProxyMeshOptions.SectionName));
        builder.Services.AddSingleton<IConfigurationValidator, ProxyMeshOptionsValidator>();
        return validated.View;
    }

    /// <summary>Validates the start-up configuration (throwing on problems) and from then on every reload.</summary>
    public static WebApplication UseProxyMeshConfiguration(this WebApplication app)
    {
        var stats = app.Services.GetRequiredService<ConfigUpdateStats>();
        stats.AttachLogger(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ProxyMesh.Configuration"));
        app.Services.GetRequiredService<ValidatedConfiguration>().Activate(app.Services.GetServices<IConfigurationValidator>());
        return app;
    }
}
