using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience;

/// <summary>Sets resilience policies on a test configuration: <c>ProxyMesh:Defaults:&lt;Policy&gt;</c> and <c>ProxyMesh:Clusters:&lt;cluster&gt;:&lt;Policy&gt;</c>.</summary>
public static class PolicyConfig
{
    /// <summary>Clusters <c>app</c> (route <c>/{**rest}</c>) and <c>other</c> (route <c>/other/{**rest}</c>), both to <paramref name="address"/>.</summary>
    public static ProxyConfig TwoClusters(string address) => new ProxyConfig()
        .Cluster("app", address)
        .Cluster("other", address)
        .Route("app", "app", path: "/{**rest}")
        .Route("other", "other", path: "/other/{**rest}");

    /// <summary>Runs a validator over in-memory settings and returns its problems.</summary>
    public static List<string> Validate(IConfigurationValidator validator, params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(setting => new KeyValuePair<string, string?>(setting.Key, setting.Value)))
            .Build();
        var problems = new List<string>();
        validator.Validate(configuration, problems);
        return problems;
    }

    public static ProxyConfig Defaults(this ProxyConfig config, string policy, JsonObject values)
    {
        Section(config, "Defaults")[policy] = values;
        return config;
    }

    public static ProxyConfig ClusterPolicy(this ProxyConfig config, string cluster, string policy, JsonObject values)
    {
        var clusters = Section(config, "Clusters");
        if (clusters[cluster] is not JsonObject section)
        {
            clusters[cluster] = section = new JsonObject();
        }

        section[policy] = values;
        return config;
    }

    private static JsonObject Section(ProxyConfig config, string name)
    {
        var mesh = (JsonObject)config.Root["ProxyMesh"]!;
        if (mesh[name] is not JsonObject section)
        {
            mesh[name] = section = new JsonObject();
        }

        return section;
    }
}
