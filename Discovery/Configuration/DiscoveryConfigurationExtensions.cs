using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Discovery.Configuration;

public static class DiscoveryConfigurationExtensions
{
    /// <summary>
    /// Layers the <c>--config</c> file over appsettings*.json (environment variables and the command line still win),
    /// reads and validates the <c>Discovery</c> section, registers it and listens where it says.
    /// </summary>
    /// <exception cref="InvalidConfigurationException">One line per problem, each naming its key.</exception>
    public static DiscoveryOptions AddDiscoveryConfiguration(this WebApplicationBuilder builder, string[] args)
    {
        AddConfigFile(builder.Configuration, args);
        var problems = new List<string>();
        var options = DiscoveryOptionsReader.Read(builder.Configuration, builder.Environment.ContentRootPath, problems);
        if (problems.Count > 0)
        {
            throw new InvalidConfigurationException(problems);
        }

        builder.Services.AddSingleton(options);
        builder.WebHost.UseUrls(options.Url);
        return options;
    }

    private static void AddConfigFile(ConfigurationManager configuration, string[] args)
    {
        var path = ConfigFileArgument.Find(args);
        if (path is null)
        {
            return;
        }

        if (!File.Exists(path))
        {
            throw new InvalidConfigurationException([$"--config: file '{path}' does not exist"]);
        }

        var sources = configuration.Sources;
        var afterLastFile = 0;
        for (var i = 0; i < sources.Count; i++)
        {
            if (sources[i] is JsonConfigurationSource)
            {
                afterLastFile = i + 1;
            }
        }

        var source = new JsonConfigurationSource
        {
            Path = Path.GetFileName(path),
            FileProvider = new PhysicalFileProvider(Path.GetDirectoryName(path)!),
            Optional = false,
            ReloadOnChange = false,
        };
        try
        {
            sources.Insert(afterLastFile, source);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidConfigurationException([$"--config: invalid JSON in '{path}': {e.GetBaseException().Message}"]);
        }
    }
}
