using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience;

/// <summary>Sets resilience policies on a test configuration: <c>ProxyMesh:Defaults:&lt;Policy&gt;</c> and <c>ProxyMesh:Clusters:&lt;cluster&gt;:&lt;Policy&gt;</c>.</summary>
public static class PolicyConfig
{
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
