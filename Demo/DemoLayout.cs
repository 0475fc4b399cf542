using System.Text.Json.Nodes;

namespace ProxyMesh.Demo;

/// <summary>One instance of a demo service and its sidecar: four ports from <c>basePort + 10 × (index + 1)</c>.</summary>
internal sealed record DemoInstance(string Service, string Name, string Zone, int AppPort)
{
    public int IngressPort => AppPort + 1;

    public int EgressPort => AppPort + 2;

    public int AdminPort => AppPort + 3;
}

/// <summary>The mesh: discovery, <c>users</c> in zone-a, <c>locations</c> in zone-a and zone-b, each with its sidecar.</summary>
internal sealed class DemoLayout(DemoOptions options)
{
    public int DiscoveryPort { get; } = options.BasePort;

    public string DiscoveryUrl => $"http://127.0.0.1:{DiscoveryPort}";

    public DemoInstance Users { get; } = new("users", "users-1", "zone-a", options.BasePort + 10);

    public DemoInstance LocationsA { get; } = new("locations", "locations-1", "zone-a", options.BasePort + 20);

    public DemoInstance LocationsB { get; } = new("locations", "locations-2", "zone-b", options.BasePort + 30);

    public IReadOnlyList<DemoInstance> Instances => [Users, LocationsA, LocationsB];

    /// <summary>
    /// The sidecar's appsettings.json: ingress to its application, egress routes by Host to discovery-fed, zone-aware
    /// clusters, registration of its ingress, short intervals so that the demo moves in seconds, and a retry and
    /// outlier-detection policy that a failing instance visibly triggers.
    /// </summary>
    public JsonObject SidecarConfig(DemoInstance instance, string accessLogPath) => new()
    {
        ["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["Default"] = "Warning" } },
        ["ProxyMesh"] = new JsonObject
        {
            ["ServiceName"] = instance.Service,
            ["Zone"] = instance.Zone,
            ["Listeners"] = new JsonObject
            {
                ["ingress"] = new JsonObject { ["Url"] = $"http://127.0.0.1:{instance.IngressPort}" },
                ["egress"] = new JsonObject { ["Url"] = $"http://127.0.0.1:{instance.EgressPort}" },
            },
            ["Admin"] = new JsonObject { ["Url"] = $"http://127.0.0.1:{instance.AdminPort}" },
            ["Discovery"] = new JsonObject { ["Url"] = DiscoveryUrl, ["RefreshInterval"] = "00:00:02" },
            ["Registration"] = new JsonObject
            {
                ["Ip"] = "127.0.0.1",
                ["Port"] = instance.IngressPort,
                ["Interval"] = "00:00:10",
                ["Tags"] = new JsonObject { ["InstanceId"] = instance.Name },
            },
            ["AccessLog"] = new JsonObject { ["Path"] = accessLogPath },
            ["Defaults"] = new JsonObject
            {
                ["Retry"] = new JsonObject { ["RetryOn"] = "5xx,reset,connect-failure", ["NumRetries"] = 2, ["PerTryTimeout"] = "00:00:01" },
                ["OutlierDetection"] = new JsonObject { ["Consecutive5xx"] = 3, ["Interval"] = "00:00:05", ["BaseEjectionTime"] = "00:00:15" },
            },
        },
        ["ReverseProxy"] = new JsonObject
        {
            ["Routes"] = new JsonObject
            {
                ["inbound"] = Route("local-app", "ingress", host: null),
                ["to-users"] = Route("users", "egress", host: "users"),
                ["to-locations"] = Route("locations", "egress", host: "locations"),
            },
            ["Clusters"] = new JsonObject
            {
                ["local-app"] = new JsonObject
                {
                    ["Destinations"] = new JsonObject { ["app"] = new JsonObject { ["Address"] = $"http://127.0.0.1:{instance.AppPort}" } },
                },
                ["users"] = DiscoveredCluster("users"),
                ["locations"] = DiscoveredCluster("locations"),
            },
        },
    };

    private static JsonObject Route(string cluster, string listener, string? host)
    {
        var match = new JsonObject { ["Path"] = "/{**catch-all}" };
        if (host is not null)
        {
            match["Hosts"] = new JsonArray(host);
        }

        return new JsonObject { ["ClusterId"] = cluster, ["Match"] = match, ["Metadata"] = new JsonObject { ["ProxyMesh.Listeners"] = listener } };
    }

    private static JsonObject DiscoveredCluster(string service) => new()
    {
        ["LoadBalancingPolicy"] = "ZoneAware",
        ["Metadata"] = new JsonObject { ["ProxyMesh.Discovery"] = service, ["ProxyMesh.ZoneAware.MinClusterSize"] = "1" },
    };
}
