extern alias discovery;

using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;
using DiscoveryApplication = discovery::ProxyMesh.Discovery.DiscoveryApplication;
using DynamoDbOptions = discovery::ProxyMesh.Discovery.Configuration.DynamoDbOptions;

namespace ProxyMesh.Proxy.Tests.Deploy;

/// <summary>
/// deploy/k8s/, parsed with a YAML library: every manifest's kind and required fields, and the cross-references
/// between them and the apps — ports, ConfigMap keys, probe paths, mount paths, the sidecar's own configuration (checked
/// by the proxy), Prometheus selectors, and the DynamoDB table against the discovery service's store.
/// </summary>
public sealed class KubernetesLayoutTests
{
    private static readonly string Directory = Repository.PathOf("deploy", "k8s");
    private static readonly Dockerfile Images = Dockerfile.Load(Repository.PathOf("deploy", "Dockerfile"));

    private static readonly JsonObject[] Manifests =
    [
        .. Yaml.LoadAll(Path.Combine(Directory, "orders.yaml")),
        .. Yaml.LoadAll(Path.Combine(Directory, "discovery.yaml")),
        .. Yaml.LoadAll(Path.Combine(Directory, "prometheus.yaml")),
    ];

    private static readonly Dictionary<string, string> KnownKinds = new()
    {
        ["ConfigMap"] = "v1",
        ["Service"] = "v1",
        ["ServiceAccount"] = "v1",
        ["Deployment"] = "apps/v1",
        ["ServiceMonitor"] = "monitoring.coreos.com/v1",
    };

    private static IEnumerable<JsonObject> OfKind(string kind) => Manifests.Where(m => m.Text("kind") == kind);

    private static JsonObject Named(string kind, string name) => OfKind(kind).Single(m => m.Text("metadata.name") == name);

    [Fact]
    public void Every_manifest_has_a_known_kind_its_api_version_and_a_name()
    {
        Assert.Equal(["ConfigMap", "Deployment", "Deployment", "Service", "Service", "ServiceAccount", "ServiceMonitor", "ServiceMonitor"],
            Manifests.Select(m => m.Text("kind")).Order());
        foreach (var manifest in Manifests)
        {
            Assert.Equal(KnownKinds[manifest.Text("kind")], manifest.Text("apiVersion"));
            Assert.False(string.IsNullOrEmpty(manifest.Text("metadata.name")));
        }
    }

    [Fact]
    public void Deployments_select_their_own_pods_request_resources_and_probe_named_ports()
    {
        foreach (var deployment in OfKind("Deployment"))
        {
            var labels = deployment.At("spec.template.metadata.labels")!.AsObject();
            foreach (var (key, value) in deployment.At("spec.selector.matchLabels")!.AsObject())
            {
                Assert.Equal((string)value!, (string?)labels[key]);
            }

            Assert.Equal("true", deployment.Text("spec.template.spec.securityContext.runAsNonRoot"));
            foreach (var container in deployment.Items("spec.template.spec.containers"))
            {
                Assert.False(string.IsNullOrEmpty(container.Text("image")));
                Assert.NotNull(container.At("resources.requests.cpu"));
                Assert.NotNull(container.At("resources.requests.memory"));
                var ports = container.Items("ports").Select(p => p.Text("name")).ToHashSet();
                foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
                {
                    if (container[probe] is JsonObject check)
                    {
                        Assert.Equal("/ready", check.Text("httpGet.path"));
                        Assert.Contains(check.Text("httpGet.port"), ports);
                    }
                }
            }
        }
    }

    [Fact]
    public async Task The_sidecar_reads_its_configmap_where_the_image_expects_it_and_the_proxy_accepts_it()
    {
        var pod = Named("Deployment", "orders").At("spec.template.spec")!;
        var proxymesh = pod.Items("containers").Single(c => c.Text("name") == "proxymesh");
        var configPath = Images["proxy"].Entrypoint.SkipWhile(arg => arg != "--config").ElementAt(1);

        var mount = proxymesh.Items("volumeMounts").Single(m => configPath.StartsWith(m.Text("mountPath") + "/", StringComparison.Ordinal));
        var volume = pod.Items("volumes").Single(v => v.Text("name") == mount.Text("name"));
        var item = volume.Items("configMap.items").Single(i => $"{mount.Text("mountPath")}/{i.Text("path")}" == configPath);
        var configMap = Named("ConfigMap", volume.Text("configMap.name"));
        var json = (string?)configMap.At("data")![item.Text("key")] ?? throw new Xunit.Sdk.XunitException($"ConfigMap has no key {item.Text("key")}");
        var sidecar = JsonNode.Parse(json)!;

        // Ports: the container's named ports are the sidecar's listeners; registration announces the ingress.
        var ports = proxymesh.Items("ports").ToDictionary(p => p.Text("name"), p => int.Parse(p.Text("containerPort"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(new Uri(sidecar.Text("ProxyMesh.Listeners.ingress.Url")).Port, ports["ingress"]);
        Assert.Equal(new Uri(sidecar.Text("ProxyMesh.Admin.Url")).Port, ports["proxymesh-admin"]);
        Assert.Equal(ports["ingress"], (int)sidecar.At("ProxyMesh.Registration.Port")!.GetValue<double>());
        Assert.Equal(Images["proxy"].ExposedPorts, ports.Values.Order());

        // The application's port is the sidecar's local cluster.
        var app = pod.Items("containers").Single(c => c.Text("name") == "app");
        var appArgs = app.At("args")!.AsArray().Select(a => (string)a!).ToList();
        Assert.Equal(new Uri(sidecar.Text("ReverseProxy.Clusters.local-app.Destinations.app.Address")).Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            appArgs[appArgs.IndexOf("--port") + 1]);

        // Discovery: the Service sidecars poll, on the port the discovery pods listen on.
        var pollUrl = new Uri(sidecar.Text("ProxyMesh.Discovery.Url"));
        var discoveryService = Named("Service", pollUrl.Host);
        var servicePort = discoveryService.Items("spec.ports").Single(p => p.Text("port") == pollUrl.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var discoveryContainer = Named("Deployment", "proxymesh-discovery").Items("spec.template.spec.containers").Single();
        Assert.Contains(discoveryContainer.Items("ports"), p => p.Text("name") == servicePort.Text("targetPort") && p.Text("containerPort") == servicePort.Text("port"));
        Assert.Equal(new[] { pollUrl.Port }, Images["discovery"].ExposedPorts);

        // The heap limit leaves the runtime room under the container's memory limit: shedding, not an OOM kill.
        var memoryLimit = proxymesh.Text("resources.limits.memory");
        Assert.EndsWith("Mi", memoryLimit, StringComparison.Ordinal);
        var limitBytes = long.Parse(memoryLimit[..^2], System.Globalization.CultureInfo.InvariantCulture) * 1024 * 1024;
        var maxHeap = (long)sidecar.At("ProxyMesh.Overload.MaxHeapBytes")!.GetValue<double>();
        Assert.InRange(maxHeap, 1, limitBytes * 2 / 5);

        // The admin token comes from the mounted secret; the pod's IP is what registers.
        var environment = proxymesh.Items("env").Where(e => e["value"] is not null).ToDictionary(e => e.Text("name"), e => e.Text("value"));
        var tokenFile = environment["ProxyMesh__Admin__TokenFile"];
        var tokenMount = proxymesh.Items("volumeMounts").Single(m => tokenFile.StartsWith(m.Text("mountPath") + "/", StringComparison.Ordinal));
        Assert.NotNull(pod.Items("volumes").Single(v => v.Text("name") == tokenMount.Text("name")).At("secret.secretName"));
        Assert.Equal("status.podIP", proxymesh.Items("env").Single(e => e.Text("name") == "ProxyMesh__Registration__Ip").Text("valueFrom.fieldRef.fieldPath"));

        var token = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(token, "a-token");
            var problems = await SidecarConfigCheck.ProblemsAsync(json, new Dictionary<string, string>(environment)
            {
                ["ProxyMesh__Admin__TokenFile"] = token,
                ["ProxyMesh__Registration__Ip"] = "10.1.2.3",
            });
            Assert.Empty(problems);
        }
        finally
        {
            File.Delete(token);
        }
    }

    [Fact]
    public void The_sidecar_drains_before_it_stops_and_is_scraped_on_its_admin_port()
    {
        var deployment = Named("Deployment", "orders");
        var pod = deployment.At("spec.template.spec")!;
        var proxymesh = pod.Items("containers").Single(c => c.Text("name") == "proxymesh");
        var preStop = string.Join(' ', proxymesh.At("lifecycle.preStop.exec.command")!.AsArray().Select(a => (string)a!));
        var healthcheckScript = Images["proxy"].HealthcheckCommand[0];
        Assert.Contains($"{healthcheckScript} POST /healthcheck/fail", preStop, StringComparison.Ordinal);
        var drainSeconds = int.Parse(preStop[(preStop.LastIndexOf("sleep ", StringComparison.Ordinal) + 6)..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(int.Parse(pod.Text("terminationGracePeriodSeconds"), System.Globalization.CultureInfo.InvariantCulture) > drainSeconds);
        var appSleep = int.Parse(pod.Items("containers").Single(c => c.Text("name") == "app").Text("lifecycle.preStop.sleep.seconds"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(appSleep >= drainSeconds, "the application outlives the sidecar's drain");
        var liveness = proxymesh.At("livenessProbe")!;
        Assert.True(int.Parse(liveness.Text("periodSeconds"), System.Globalization.CultureInfo.InvariantCulture) * int.Parse(liveness.Text("failureThreshold"), System.Globalization.CultureInfo.InvariantCulture) > drainSeconds,
            "a draining sidecar (503 on /ready) is not restarted by its liveness probe");

        var adminPort = proxymesh.Items("ports").Single(p => p.Text("name") == "proxymesh-admin");
        var annotations = deployment.At("spec.template.metadata.annotations")!.AsObject();
        Assert.Equal("true", (string?)annotations["proxymesh.io/scrape"]);
        Assert.Equal(adminPort.Text("containerPort"), (string?)annotations["proxymesh.io/port"]);

        // ServiceMonitors select Services that exist and name ports those Services have, which select pods with them.
        foreach (var monitor in OfKind("ServiceMonitor"))
        {
            var selector = monitor.At("spec.selector.matchLabels")!.AsObject();
            var services = OfKind("Service").Where(s => selector.All(l => (string?)s.At("metadata.labels")?[l.Key] == (string?)l.Value)).ToArray();
            Assert.NotEmpty(services);
            foreach (var endpoint in monitor.Items("spec.endpoints"))
            {
                Assert.Equal("/metrics", endpoint.Text("path"));
                foreach (var service in services)
                {
                    var port = service.Items("spec.ports").Single(p => p.Text("name") == endpoint.Text("port"));
                    var pods = OfKind("Deployment").Where(d => service.At("spec.selector")!.AsObject()
                        .All(l => (string?)d.At("spec.template.metadata.labels")![l.Key] == (string?)l.Value));
                    Assert.Contains(pods.SelectMany(d => d.Items("spec.template.spec.containers")).SelectMany(c => c.Items("ports")),
                        p => p.Text("name") == port.Text("targetPort"));
                }
            }
        }
    }

    [Fact]
    public void Discovery_runs_on_dynamodb_under_an_irsa_service_account()
    {
        var pod = Named("Deployment", "proxymesh-discovery").At("spec.template.spec")!;
        var account = Named("ServiceAccount", pod.Text("serviceAccountName"));
        Assert.StartsWith("arn:aws:iam::", (string?)account.At("metadata.annotations")!["eks.amazonaws.com/role-arn"], StringComparison.Ordinal);
    }

    [Fact]
    public void The_cloudformation_table_matches_the_discovery_store()
    {
        var template = Yaml.Load(Path.Combine(Directory, "dynamodb-table.yaml"));
        var table = template.At("Resources.RegistrationsTable.Properties")!;
        Assert.Equal("AWS::DynamoDB::Table", template.Text("Resources.RegistrationsTable.Type"));
        Assert.Equal("PAY_PER_REQUEST", table.Text("BillingMode"));

        var item = typeof(DiscoveryApplication).Assembly.GetType("ProxyMesh.Discovery.Stores.DynamoDbHostItem", throwOnError: true)!;
        string Constant(string name) => (string)item.GetField(name)!.GetRawConstantValue()!;
        Assert.Equal([(Constant("PartitionKey"), "HASH"), (Constant("SortKey"), "RANGE")],
            table.Items("KeySchema").Select(k => (k.Text("AttributeName"), k.Text("KeyType"))));
        Assert.All(table.Items("AttributeDefinitions"), a => Assert.Equal("S", a.Text("AttributeType")));
        Assert.Equal(Constant("ExpiresAt"), table.Text("TimeToLiveSpecification.AttributeName"));
        Assert.Equal("true", table.Text("TimeToLiveSpecification.Enabled"));
        Assert.Equal(DynamoDbOptions.DefaultTable, template.Text("Parameters.TableName.Default"));

        var discovery = Named("Deployment", "proxymesh-discovery").Items("spec.template.spec.containers").Single();
        var environment = discovery.Items("env").ToDictionary(e => e.Text("name"), e => e.Text("value"));
        Assert.Equal("DynamoDb", environment["Discovery__Store"]);
        Assert.Equal(DynamoDbOptions.DefaultTable, environment["Discovery__DynamoDb__Table"]);
        Assert.False(environment.ContainsKey("Discovery__DynamoDb__CreateTable"), "production tables come from CloudFormation");
    }
}
