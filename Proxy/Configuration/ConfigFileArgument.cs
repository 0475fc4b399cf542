namespace ProxyMesh.Proxy.Configuration;

/// <summary>The <c>--config &lt;file.json&gt;</c> (or <c>--config=&lt;file.json&gt;</c>) command-line argument.</summary>
internal static class ConfigFileArgument
{
    private const string Name = "--config";

    /// <returns>The full path of the file, resolved against the current directory, or null when not given.</returns>
    public static string? Find(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            string? value = null;
            if (args[i] == Name)
            {
                if (i + 1 >= args.Length)
                {
                    throw new InvalidConfigurationException(["--config: expected a file path after --config"]);
                }

                value = args[i + 1];
            }
            else if (args[i].StartsWith(Name + "=", StringComparison.Ordinal))
            {
                value = args[i][(Name.Length + 1)..];
            }

            if (value is not null)
            {
                return Path.GetFullPath(value, Directory.GetCurrentDirectory());
            }
        }

        return null;
    }
}
