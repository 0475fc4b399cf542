using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Routing;

/// <summary>
/// Reads a <c>ReverseProxy</c> section exactly as YARP's <c>LoadFromConfig</c> will, so that a value YARP cannot
/// convert is caught before YARP sees it (on reload YARP would only log it). YARP's reader is internal, so a
/// throwaway container hosts it; reloads are rare, so the cost does not matter.
/// </summary>
internal static class YarpConfigReader
{
    /// <returns>The routes and clusters, or null after adding one problem per unreadable route or cluster.</returns>
    public static IProxyConfig? Read(IConfigurationSection section, List<string> problems)
    {
        if (TryRead(section, out var config, out _))
        {
            return config;
        }

        // Read each route and cluster alone to name the one that fails.
        foreach (var kind in new[] { "Clusters", "Routes" })
        {
            foreach (var child in section.GetSection(kind).GetChildren())
            {
                var single = new ConfigurationBuilder()
                    .AddInMemoryCollection(child.AsEnumerable()
                        .Where(pair => pair.Value is not null)
                        .Select(pair => KeyValuePair.Create(pair.Key[(section.Path.Length + 1)..], pair.Value)))
                    .Build();
                if (!TryRead(single, out _, out var problem))
                {
                    problems.Add($"{child.Path}: {problem}");
                }
            }
        }

        if (problems.Count == 0)
        {
            TryRead(section, out _, out var problem);
            problems.Add($"{section.Path}: {problem}");
        }

        return null;
    }

    private static bool TryRead(IConfiguration section, out IProxyConfig? config, out string problem)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddReverseProxy().LoadFromConfig(section);
        using var provider = services.BuildServiceProvider();
        try
        {
            config = provider.GetRequiredService<IProxyConfigProvider>().GetConfig();
            problem = "";
            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException or OverflowException)
        {
            config = null;
            problem = e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}";
            return false;
        }
    }
}
