using System.Net;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Deploy;

/// <summary>deploy/docker-compose.yml, parsed, with every port, file and service name checked against what the apps read.</summary>
public sealed class ComposeLayoutTests
{
    private static readonly string DeployDirectory = Repository.PathOf("deploy");
    private static readonly JsonObject Compose = Yaml.Load(Path.Combine(DeployDirectory, "docker-compose.yml"));
    private static readonly JsonObject Services = (JsonObject)Compose["services"]!;
    private static readonly Dockerfile Images = Dockerfile.Load(Path.Combine(DeployDirectory, "Dockerfile"));

    private static IEnumerable<string> Sidecars => Services.Where(service => service.Key.EndsWith("-sidecar", StringComparison.Ordinal)).Select(service => service.Key);

    [Fact]
    public void It_runs_dynamodb_local_discovery_two_services_with_sidecars_prometheus_and_grafana()
    {
        Assert.StartsWith("amazon/dynamodb-local:", Services.Text("dynamodb.image"), StringComparison.Ordinal);
        Assert.Equal(["locations-sidecar", "users-sidecar"], Sidecars.Order());
        Assert.Contains("prometheus", Services.Select(service => service.Key));
        Assert.Contains("grafana", Services.Select(service => service.Key));
        foreach (var (name, service) in Services)
        {
            Assert.True(service!["image"] is not null, $"{name} names an image");
            foreach (var dependency in service["depends_on"]?.AsArray() ?? [])
            {
                Assert.True(Services.ContainsKey((string)dependency!), $"{name} depends on a service that exists: {dependency}");
            }
        }
    }

    [Fact]
    public void Images_built_here_name_a_dockerfile_target_that_exists()
    {
        foreach (var (name, service) in Services)
        {
            if (service!["build"] is not JsonObject build)
            {
                continue;
            }

            var dockerfile = Path.GetFullPath(Path.Combine(DeployDirectory, (string)build["context"]!, (string)build["dockerfile"]!));
            Assert.Equal(Repository.PathOf("deploy", "Dockerfile"), dockerfile);
            Assert.Contains((string)build["target"]!, Images.Stages.Select(stage => stage.Name));
        }
    }

    [Fact]
    public void Discovery_uses_dynamodb_local_on_its_port_and_listens_where_sidecars_poll()
    {
        var environment = Environment("discovery");
        Assert.Equal("DynamoDb", environment["Discovery__Store"]);
        var dynamo = new Uri(environment["Discovery__DynamoDb__ServiceUrl"]);
        Assert.Equal("dynamodb", dynamo.Host);
        Assert.Equal(8000, dynamo.Port); // DynamoDB Local's port
        Assert.Contains("-inMemory", Services.At("dynamodb.command")!.AsArray().Select(arg => (string)arg!));

        var discoveryPort = DiscoveryImagePort();
        var sidecar = SidecarJson();
        var pollUrl = new Uri(sidecar.Text("ProxyMesh.Discovery.Url"));
        Assert.Equal(("discovery", discoveryPort), (pollUrl.Host, pollUrl.Port));
    }

    [Fact]
    public async Task Each_sidecar_shares_its_services_network_namespace_and_its_configuration_is_valid()
    {
        var subnet = Compose.Items("networks.mesh.ipam.config").Single().Text("subnet");
        var sidecar = SidecarJson();
        var ingressPort = new Uri(sidecar.Text("ProxyMesh.Listeners.ingress.Url")).Port;
        var appPort = new Uri(sidecar.Text("ReverseProxy.Clusters.local-app.Destinations.app.Address")).Port;
        var configPath = Images["proxy"].Entrypoint.SkipWhile(arg => arg != "--config").ElementAt(1);
        foreach (var name in Sidecars)
        {
            var app = name[..^"-sidecar".Length];
            Assert.Equal($"service:{app}", Services.Text($"{name}.network_mode"));
            Assert.Equal("proxy", Services.Text($"{name}.build.target"));

            // The application listens where the sidecar's local cluster points.
            var command = Services.At($"{app}.command")!.AsArray().Select(arg => (string)arg!).ToList();
            Assert.Equal(appPort.ToString(System.Globalization.CultureInfo.InvariantCulture), command[command.IndexOf("--port") + 1]);

            // The sidecar registers the service's own address, inside the network's subnet.
            var environment = Environment(name);
            var ip = environment["ProxyMesh__Registration__Ip"];
            Assert.Equal(ip, Services.Text($"{app}.networks.mesh.ipv4_address"));
            Assert.True(InSubnet(IPAddress.Parse(ip), subnet), $"{ip} in {subnet}");
            Assert.Equal(ingressPort, (int)sidecar.At("ProxyMesh.Registration.Port")!.GetValue<double>());
            Assert.Equal(app, environment["ProxyMesh__ServiceName"]);

            // Mounted files exist here and land where the image and the environment expect them.
            var mounts = Mounts(name);
            Assert.Equal("compose/sidecar.json", Path.GetRelativePath(DeployDirectory, mounts[configPath]));
            var tokenSource = mounts[environment["ProxyMesh__Admin__TokenFile"]];

            // Routes by Host name the compose services; discovery clusters name the services that register.
            foreach (var route in sidecar.At("ReverseProxy.Routes")!.AsObject())
            {
                foreach (var host in route.Value.At("Match.Hosts")?.AsArray().Select(h => (string)h!) ?? [])
                {
                    Assert.True(Services.ContainsKey(host) && Services.ContainsKey(host + "-sidecar"), $"route {route.Key}: {host} is a service with a sidecar");
                }
            }

            var problems = await SidecarConfigCheck.ProblemsAsync(
                sidecar.ToJsonString(),
                new Dictionary<string, string>(environment) { ["ProxyMesh__Admin__TokenFile"] = tokenSource });
            Assert.Empty(problems);
        }
    }

    [Fact]
    public async Task The_configuration_check_used_here_reports_what_would_stop_the_proxy()
    {
        var broken = SidecarJson();
        broken["ProxyMesh"]!["Admin"]!.AsObject().Remove("AllowNonLoopback");
        broken["ReverseProxy"]!["Routes"]!["to-users"]!["ClusterId"] = "user";
        var problems = await SidecarConfigCheck.ProblemsAsync(broken.ToJsonString(), new Dictionary<string, string>());
        Assert.Contains(problems, p => p.StartsWith("ProxyMesh:Admin:Url:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ReverseProxy:Routes:to-users:ClusterId: there is no cluster named 'user'", StringComparison.Ordinal));
    }

    [Fact]
    public void Steady_traffic_runs_in_the_callers_namespace_and_calls_its_egress()
    {
        var egress = new Uri(SidecarJson().Text("ProxyMesh.Listeners.egress.Url"));
        Assert.Equal("service:users", Services.Text("users-traffic.network_mode"));
        var script = string.Join(' ', Services.At("users-traffic.entrypoint")!.AsArray().Select(arg => (string)arg!));
        Assert.Contains($"-H 'Host: locations' http://127.0.0.1:{egress.Port}/", script, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prometheus_runs_the_shipped_rules_and_scrapes_every_sidecar_admin_port_and_discovery()
    {
        var mounts = Mounts("prometheus");
        var config = mounts["/etc/prometheus/prometheus.yml"];
        Assert.Equal("--config.file=/etc/prometheus/prometheus.yml", (string)Services.At("prometheus.command")![0]!);
        var prometheus = Yaml.Load(config);
        foreach (var ruleFile in prometheus.At("rule_files")!.AsArray())
        {
            var mounted = mounts["/etc/prometheus/" + (string)ruleFile!];
            Assert.Equal(Repository.PathOf("deploy", "prometheus", "rules.yml"), mounted); // the shipped rules, unit-tested elsewhere
        }

        var adminPort = new Uri(SidecarJson().Text("ProxyMesh.Admin.Url")).Port;
        var targets = prometheus.Items("scrape_configs").SelectMany(job => job.Items("static_configs")).SelectMany(s => s.At("targets")!.AsArray()).Select(t => (string)t!).ToHashSet();
        foreach (var sidecar in Sidecars)
        {
            Assert.Contains($"{sidecar[..^"-sidecar".Length]}:{adminPort}", targets);
        }

        Assert.Contains($"discovery:{DiscoveryImagePort()}", targets);
        var (exitCode, output, error) = await Promtool.RunAsync(Path.GetDirectoryName(config)!, "check", "config", Path.GetFileName(config));
        Assert.True(exitCode == 0, $"promtool check config failed ({exitCode}):\n{output}\n{error}");
    }

    [Fact]
    public void Grafana_is_provisioned_with_the_shipped_dashboard_and_a_prometheus_data_source()
    {
        var mounts = Mounts("grafana");
        var provisioning = mounts["/etc/grafana/provisioning"];
        var datasource = Yaml.Load(Path.Combine(provisioning, "datasources", "prometheus.yml")).Items("datasources").Single();
        Assert.Equal("prometheus", datasource.Text("type"));
        var url = new Uri(datasource.Text("url"));
        Assert.Equal("prometheus", url.Host);
        Assert.Contains($"127.0.0.1:{url.Port}:{url.Port}", Services.At("prometheus.ports")!.AsArray().Select(p => (string)p!));

        var provider = Yaml.Load(Path.Combine(provisioning, "dashboards", "proxymesh.yml")).Items("providers").Single();
        var dashboardDirectory = provider.Text("options.path");
        var dashboard = mounts.Single(mount => mount.Key.StartsWith(dashboardDirectory + "/", StringComparison.Ordinal));
        Assert.Equal(Repository.PathOf("deploy", "grafana", "proxymesh-service.json"), dashboard.Value);
        Assert.Equal("prometheus", (string)JsonNode.Parse(File.ReadAllText(dashboard.Value))!["templating"]!["list"]!.AsArray()
            .Single(variable => (string)variable!["name"]! == "datasource")!["query"]!);
    }

    private static int DiscoveryImagePort() =>
        new Uri(JsonNode.Parse(File.ReadAllText(Repository.PathOf("deploy", "discovery.json")))!["Discovery"]!["Url"]!.GetValue<string>()).Port;

    private static JsonObject SidecarJson() =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(DeployDirectory, "compose", "sidecar.json")))!;

    private static Dictionary<string, string> Environment(string service) =>
        Services.At($"{service}.environment")!.AsObject().ToDictionary(pair => pair.Key, pair => (string)pair.Value!);

    /// <summary>Container path → the file or directory on this machine that compose mounts there (which must exist).</summary>
    private static Dictionary<string, string> Mounts(string service)
    {
        var mounts = new Dictionary<string, string>();
        foreach (var volume in Services.At($"{service}.volumes")!.AsArray().Select(v => (string)v!))
        {
            var parts = volume.Split(':');
            var source = Path.GetFullPath(Path.Combine(DeployDirectory, parts[0]));
            Assert.True(Path.Exists(source), $"{service} mounts {parts[0]}, which exists");
            mounts[parts[1]] = source;
        }

        return mounts;
    }

    private static bool InSubnet(IPAddress address, string subnet)
    {
        var network = IPNetwork.Parse(subnet);
        return network.Contains(address);
    }
}
