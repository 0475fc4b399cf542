using System.Text.Json.Nodes;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Builds a ProxyMesh appsettings.json: listeners on ephemeral loopback ports, routes and clusters as YARP spells them.</summary>
public sealed class ProxyConfig
{
    public JsonObject Root { get; } = new()
    {
        ["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["Default"] = "Warning" } },
        ["ProxyMesh"] = new JsonObject
        {
            ["ServiceName"] = "tests",
            ["Zone"] = "zone-a",
            ["Listeners"] = new JsonObject
            {
                ["ingress"] = new JsonObject { ["Url"] = "http://127.0.0.1:0" },
                ["egress"] = new JsonObject { ["Url"] = "http://127.0.0.1:0" },
            },
            ["Admin"] = new JsonObject { ["Url"] = "http://127.0.0.1:0" },
        },
        ["ReverseProxy"] = new JsonObject { ["Routes"] = new JsonObject(), ["Clusters"] = new JsonObject() },
    };

    public JsonObject Listeners => (JsonObject)Root["ProxyMesh"]!["Listeners"]!;

    public JsonObject Routes => (JsonObject)Root["ReverseProxy"]!["Routes"]!;

    public JsonObject Clusters => (JsonObject)Root["ReverseProxy"]!["Clusters"]!;

    /// <summary>A cluster; <paramref name="http2"/> makes YARP speak h2c to it (the upstream must accept prior knowledge).</summary>
    public ProxyConfig Cluster(string id, IEnumerable<string> addresses, bool http2 = false)
    {
        var destinations = new JsonObject();
        var i = 0;
        foreach (var address in addresses)
        {
            destinations[$"d{i++}"] = new JsonObject { ["Address"] = address };
        }

        var cluster = new JsonObject { ["Destinations"] = destinations };
        if (http2)
        {
            cluster["HttpRequest"] = new JsonObject { ["Version"] = "2", ["VersionPolicy"] = "RequestVersionExact" };
        }

        Clusters[id] = cluster;
        return this;
    }

    public ProxyConfig Cluster(string id, string address, bool http2 = false) => Cluster(id, [address], http2);

    /// <summary>A cluster whose destinations come from discovery of <paramref name="service"/>.</summary>
    public ProxyConfig DiscoveryCluster(string id, string service, string discoveryUrl, TimeSpan? refreshInterval = null)
    {
        Clusters[id] = new JsonObject { ["Metadata"] = new JsonObject { ["ProxyMesh.Discovery"] = service } };
        var discovery = new JsonObject { ["Url"] = discoveryUrl };
        if (refreshInterval is { } interval)
        {
            discovery["RefreshInterval"] = interval.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
        }

        Root["ProxyMesh"]!["Discovery"] = discovery;
        return this;
    }

    public ProxyConfig Route(string id, string cluster, string path = "/{**catch-all}", string? listeners = null, string[]? hosts = null)
    {
        var match = new JsonObject { ["Path"] = path };
        if (hosts is not null)
        {
            match["Hosts"] = new JsonArray(hosts.Select(host => (JsonNode)host).ToArray());
        }

        var route = new JsonObject { ["ClusterId"] = cluster, ["Match"] = match };
        if (listeners is not null)
        {
            route["Metadata"] = new JsonObject { ["ProxyMesh.Listeners"] = listeners };
        }

        Routes[id] = route;
        return this;
    }

    /// <summary>A TCP proxy listener on an ephemeral loopback port, sending its connections to <paramref name="cluster"/>.</summary>
    /// <returns>The listener's section, for more keys.</returns>
    public JsonObject TcpListener(string name, string cluster)
    {
        var listener = new JsonObject { ["Url"] = "tcp://127.0.0.1:0", ["Cluster"] = cluster };
        Listeners[name] = listener;
        return listener;
    }

    /// <summary>The <c>ProxyMesh:Clusters:&lt;id&gt;</c> policy section of a cluster, created when missing.</summary>
    public JsonObject ClusterPolicies(string id)
    {
        var mesh = (JsonObject)Root["ProxyMesh"]!;
        var clusters = mesh["Clusters"] as JsonObject ?? (JsonObject)(mesh["Clusters"] = new JsonObject());
        return clusters[id] as JsonObject ?? (JsonObject)(clusters[id] = new JsonObject());
    }

    public string ToJson() => Root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });

    /// <summary>This configuration with a JSON fragment merged over it; a fragment that is not JSON is returned as it is.</summary>
    public string ToJsonWith(string fragment)
    {
        JsonNode? overlay;
        try
        {
            overlay = JsonNode.Parse(fragment);
        }
        catch (System.Text.Json.JsonException)
        {
            return fragment;
        }

        var merged = (JsonObject)Root.DeepClone();
        Merge(merged, (JsonObject)overlay!);
        return merged.ToJsonString();
    }

    private static void Merge(JsonObject target, JsonObject overlay)
    {
        foreach (var (key, value) in overlay.ToArray())
        {
            if (value is JsonObject child && target[key] is JsonObject existing && child.Count > 0)
            {
                Merge(existing, child);
            }
            else
            {
                overlay.Remove(key);
                target[key] = value;
            }
        }
    }
}
