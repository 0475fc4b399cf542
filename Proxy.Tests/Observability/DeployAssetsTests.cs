using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>
/// The observability assets in deploy/: the Prometheus configuration and rules checked by the real promtool, and the
/// Grafana dashboard's variables, panels and queries checked against ProxyMesh's metric names.
/// </summary>
public sealed partial class DeployAssetsTests
{
    private static readonly string Root = RepoRoot();
    private static readonly string PrometheusDirectory = Path.Combine(Root, "deploy", "prometheus");
    private static readonly string DashboardPath = Path.Combine(Root, "deploy", "grafana", "proxymesh-service.json");

    [Fact]
    public async Task Prometheus_config_passes_promtool_check_config()
    {
        var (exitCode, output, error) = await Promtool.RunAsync(Root, "check", "config", "deploy/prometheus/prometheus.yml");

        Assert.True(exitCode == 0, $"promtool check config failed ({exitCode}):\n{output}\n{error}");
        Assert.Contains("SUCCESS", output + error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recording_rules_pass_promtool_check_rules_and_their_unit_tests()
    {
        var check = await Promtool.RunAsync(Root, "check", "rules", "deploy/prometheus/rules.yml");
        Assert.True(check.ExitCode == 0, $"promtool check rules failed ({check.ExitCode}):\n{check.Output}\n{check.Error}");

        var test = await Promtool.RunAsync(Root, "test", "rules", "deploy/prometheus/rules_test.yml");
        Assert.True(test.ExitCode == 0, $"promtool test rules failed ({test.ExitCode}):\n{test.Output}\n{test.Error}");
    }

    [Fact]
    public async Task Kubernetes_config_passes_promtool_with_its_pod_discovery_swapped_for_files()
    {
        var directory = KubernetesConfigOnFileDiscovery([]);
        try
        {
            var (exitCode, output, error) = await Promtool.RunAsync(directory.FullName, "check", "config", "prometheus.yml");
            Assert.True(exitCode == 0, $"promtool check config failed ({exitCode}):\n{output}\n{error}");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Kubernetes_relabelling_scrapes_sidecar_admin_ports_and_names_the_pod()
    {
        JsonObject[] pods =
        [
            Pod("named", "10.0.0.1", portName: "proxymesh-admin", port: 9901,
                labels: new() { ["app"] = "orders-legacy", ["app_kubernetes_io_name"] = "orders" }),
            Pod("named", "10.0.0.1", portName: "http", port: 8080, labels: new() { ["app"] = "orders-legacy" }),
            Pod("annotated", "10.0.0.2", portName: "http", port: 8080,
                annotations: new() { ["proxymesh_io_scrape"] = "true", ["proxymesh_io_port"] = "9911" }, labels: new() { ["app"] = "web" }),
            Pod("annotated-without-ports", "10.0.0.3", annotations: new() { ["proxymesh_io_scrape"] = "true" }),
            Pod("opted-out", "10.0.0.4", portName: "proxymesh-admin", port: 9901, annotations: new() { ["proxymesh_io_scrape"] = "false" }),
            Pod("pending", "10.0.0.5", portName: "proxymesh-admin", port: 9901, phase: "Pending"),
            Pod("no-sidecar", "10.0.0.6", portName: "http", port: 8080),
            Pod("ipv6", "fd00::7", portName: "proxymesh-admin", port: 9901),
        ];
        var directory = KubernetesConfigOnFileDiscovery(pods);
        try
        {
            var (exitCode, output, error) = await Promtool.RunAsync(
                directory.FullName, "check", "service-discovery", "--timeout=5s", "prometheus.yml", "proxymesh-sidecars");
            Assert.True(exitCode == 0, $"promtool check service-discovery failed ({exitCode}):\n{output}\n{error}");

            var kept = JsonNode.Parse(output)!.AsArray()
                .Select(target => target!["labels"]!.AsObject())
                .Where(labels => labels.Count > 0)
                .ToDictionary(labels => (string)labels["__address__"]!, labels => labels, StringComparer.Ordinal);

            Assert.Equal(["10.0.0.1:9901", "10.0.0.2:9911", "10.0.0.3:9901", "[fd00::7]:9901"], kept.Keys.Order(StringComparer.Ordinal));
            foreach (var labels in kept.Values)
            {
                Assert.Equal("/metrics", (string?)labels["__metrics_path__"]);
                Assert.Equal("proxymesh-sidecars", (string?)labels["job"]);
                Assert.Equal("shop", (string?)labels["namespace"]);
                Assert.Equal("node-1", (string?)labels["node"]);
            }

            Assert.Equal("named", (string?)kept["10.0.0.1:9901"]["pod"]);
            Assert.Equal("orders", (string?)kept["10.0.0.1:9901"]["service"]);
            Assert.Equal("annotated", (string?)kept["10.0.0.2:9911"]["pod"]);
            Assert.Equal("web", (string?)kept["10.0.0.2:9911"]["service"]);
            Assert.False(kept["10.0.0.3:9901"].ContainsKey("service"));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Dashboard_imports_into_stock_grafana_with_a_datasource_variable()
    {
        var dashboard = Dashboard();

        Assert.True((int)dashboard["schemaVersion"]! >= 36);
        Assert.False(string.IsNullOrEmpty((string?)dashboard["uid"]));
        Assert.False(string.IsNullOrEmpty((string?)dashboard["title"]));

        var datasource = Variable(dashboard, "datasource");
        Assert.Equal("datasource", (string?)datasource["type"]);
        Assert.Equal("prometheus", (string?)datasource["query"]);

        var panels = Panels(dashboard).Where(panel => (string?)panel["type"] != "row").ToList();
        Assert.NotEmpty(panels);
        Assert.Equal(panels.Count, panels.Select(panel => (int)panel["id"]!).Distinct().Count());
        foreach (var panel in panels)
        {
            Assert.Equal("${datasource}", (string?)panel["datasource"]?["uid"]);
            Assert.NotNull(panel["gridPos"]);
            foreach (var target in panel["targets"]!.AsArray())
            {
                Assert.Equal("${datasource}", (string?)target!["datasource"]?["uid"]);
            }
        }
    }

    [Fact]
    public void Dashboard_is_templated_on_source_service_and_destination_with_all_allowed()
    {
        var dashboard = Dashboard();

        var source = Variable(dashboard, "source_service");
        var destination = Variable(dashboard, "destination");
        foreach (var variable in new[] { source, destination })
        {
            Assert.Equal("query", (string?)variable["type"]);
            Assert.Equal("${datasource}", (string?)variable["datasource"]?["uid"]);
            Assert.True((bool)variable["includeAll"]!);
            Assert.Equal(".*", (string?)variable["allValue"]);
        }

        Assert.Matches(@"^label_values\(proxymesh_\w+, source_service\)$", VariableQuery(source));
        Assert.Matches(@"^label_values\(proxymesh_\w+\{source_service=~""\$source_service""\}, cluster\)$", VariableQuery(destination));
    }

    [Theory]
    [InlineData("Request rate", new[] { "proxymesh_upstream_rq_total", "sum by (response_code_class)" })]
    [InlineData("Success rate", new[] { "proxymesh_upstream_rq_total", "response_code_class!=\"5xx\"", "\n/\n" })]
    [InlineData("Latency", new[]
    {
        "histogram_quantile(0.5, sum by (le) (rate(proxymesh_upstream_rq_time_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(proxymesh_upstream_rq_time_seconds_bucket",
        "histogram_quantile(0.999, sum by (le) (rate(proxymesh_upstream_rq_time_seconds_bucket",
    })]
    [InlineData("Retries", new[]
    {
        "proxymesh_upstream_rq_retry_total", "proxymesh_upstream_rq_retry_success_total", "proxymesh_upstream_rq_retry_overflow_total",
    })]
    [InlineData("Circuit breaker overflows", new[] { "proxymesh_upstream_rq_pending_overflow_total", "proxymesh_upstream_cx_overflow_total" })]
    [InlineData("Outlier ejections", new[]
    {
        "(proxymesh_outlier_detection_ejections_active{", "rate(proxymesh_outlier_detection_ejections_enforced_total{",
    })]
    [InlineData("Healthy hosts", new[] { "proxymesh_cluster_membership_healthy_hosts", "proxymesh_cluster_membership_hosts" })]
    [InlineData("Upstream connect failures", new[] { "rate(proxymesh_upstream_cx_connect_fail_total{" })]
    [InlineData("Discovery staleness", new[] { "proxymesh_cluster_update_age_seconds", "proxymesh_cluster_update_failure_total" })]
    public void Dashboard_has_the_panel(string title, string[] expressionParts)
    {
        var panel = Assert.Single(Panels(Dashboard()), panel => (string?)panel["title"] == title);
        var expressions = string.Join("\n\n", Expressions(panel));

        foreach (var part in expressionParts)
        {
            Assert.Contains(part, expressions, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Dashboard_selects_by_source_and_destination_and_rates_over_the_rate_interval()
    {
        var expressions = Panels(Dashboard()).SelectMany(Expressions).ToList();
        Assert.NotEmpty(expressions);

        foreach (var expression in expressions)
        {
            var selectors = Selector().Matches(expression);
            Assert.True(selectors.Count == MetricName().Count(expression), $"a metric without a label selector in: {expression}");
            foreach (Match selector in selectors)
            {
                var labels = selector.Groups["labels"].Value;
                Assert.Contains("source_service=~\"$source_service\"", labels, StringComparison.Ordinal);
                if (!selector.Groups["name"].Value.StartsWith("proxymesh_downstream_", StringComparison.Ordinal))
                {
                    Assert.Contains("cluster=~\"$destination\"", labels, StringComparison.Ordinal);
                }
            }

            foreach (Match range in RangeSelector().Matches(expression))
            {
                Assert.True(range.Value == "[$__rate_interval]", $"{range.Value} instead of [$__rate_interval] in: {expression}");
            }
        }
    }

    [Fact]
    public async Task Dashboard_and_rules_use_only_proxymesh_metric_names()
    {
        var dashboard = Dashboard();
        var used = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var expression in Panels(dashboard).SelectMany(Expressions))
        {
            AddNames(used, expression, "dashboard");
        }

        foreach (var variable in new[] { "source_service", "destination" })
        {
            AddNames(used, VariableQuery(Variable(dashboard, variable)), "dashboard variable " + variable);
        }

        foreach (var file in new[] { "rules.yml", "rules_test.yml" })
        {
            AddNames(used, File.ReadAllText(Path.Combine(PrometheusDirectory, file)), file);
        }

        // Recording rules' own names (level:metric:operations) are not matched: a name preceded by ':' is no metric.
        var exposed = await ExposedMetricNamesAsync();
        var unknown = used.Where(name => !exposed.Contains(name.Key))
            .Select(name => $"{name.Key} (in {name.Value})").ToList();
        Assert.True(unknown.Count == 0, "metric names that a live ProxyMesh does not expose: " + string.Join(", ", unknown) + "\nexposed: " + string.Join(", ", exposed.Order()));
        Assert.Contains("proxymesh_upstream_rq_time_seconds_bucket", used.Keys);
        Assert.True(used.Count >= 20, $"only {used.Count} metric names used: {string.Join(", ", used.Keys)}");
    }

    /// <summary>
    /// The metric names with at least one sample on a live proxy's /metrics, after traffic that exercises what the
    /// dashboard shows: a connect failure retried on another host and the host ejected, a circuit breaker overflow, a
    /// route timeout, and discovery that answers once and then fails.
    /// </summary>
    private static async Task<HashSet<string>> ExposedMetricNamesAsync()
    {
        await using var good = await Backend.StartEchoAsync("good");
        await using var gated = await GatedBackend.StartAsync();
        await using var discovery = await ScriptedDiscovery.StartAsync();
        var polls = 0;
        discovery.Answer = service => Interlocked.Increment(ref polls) == 1 ? (200, ScriptedDiscovery.Hosts(service, good.Address)) : (500, "");
        var config = new ProxyConfig()
            .Cluster("app", [$"http://127.0.0.1:{ProxyProcess.FreePort()}", good.Address]).Route("app", "app", "/app/{**rest}")
            .Cluster("gated", gated.Address).Route("gated", "gated", "/gated/{**rest}")
            .DiscoveryCluster("discovered", "discovered", discovery.Url, TimeSpan.FromMilliseconds(200))
            .Route("discovered", "discovered", "/discovered/{**rest}");
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        config.Root["ProxyMesh"]!["Clusters"] = new JsonObject
        {
            ["app"] = new JsonObject
            {
                ["OutlierDetection"] = new JsonObject { ["ConsecutiveGatewayFailure"] = 1, ["EnforcingConsecutiveGatewayFailure"] = 100 },
            },
            ["gated"] = new JsonObject
            {
                ["CircuitBreakers"] = new JsonObject { ["MaxRequests"] = 1 },
                ["Timeouts"] = new JsonObject { ["Route"] = "00:00:01" },
            },
        };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/app/x")).StatusCode);
        var held = client.GetAsync("/gated/hold");
        await gated.WaitForHeldAsync(1);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/gated/x")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.GatewayTimeout, (await held).StatusCode);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_timeout_total", "cluster=\"gated\",route=\"gated\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"app\",type=\"consecutive_gateway_failure\"", 1);
        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_failure_total", "cluster=\"discovered\"") >= 1, "discovery failed");

        using var admin = Clients.Http1(proxy.Admin);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in (await admin.GetStringAsync("/metrics")).Split('\n'))
        {
            var end = line.IndexOfAny(['{', ' ']);
            if (line.Length > 0 && line[0] != '#' && end > 0)
            {
                names.Add(line[..end]);
            }
        }

        return names;
    }

    [Fact]
    public async Task Dashboard_queries_parse_as_promql()
    {
        // promtool has no offline PromQL check, but check rules parses each rule's expression: make every panel
        // query a recording rule, with Grafana's variables replaced as Grafana would (All is ".*").
        var expressions = Panels(Dashboard()).SelectMany(Expressions).ToList();
        var rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        for (var i = 0; i < expressions.Count; i++)
        {
            var expression = expressions[i]
                .Replace("$__rate_interval", "1m", StringComparison.Ordinal)
                .Replace("$source_service", ".*", StringComparison.Ordinal)
                .Replace("$destination", ".*", StringComparison.Ordinal);
            Assert.DoesNotContain("$", expression, StringComparison.Ordinal);
            rules.Append("      - record: dashboard_query_").Append(i).Append('\n')
                .Append("        expr: ").Append(JsonSerializer.Serialize(expression)).Append('\n');
        }

        var directory = Directory.CreateTempSubdirectory("proxymesh-dashboard-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory.FullName, "dashboard.rules.yml"), rules.ToString());
            var (exitCode, output, error) = await Promtool.RunAsync(directory.FullName, "check", "rules", "dashboard.rules.yml");
            Assert.True(exitCode == 0, $"dashboard queries do not parse ({exitCode}):\n{output}\n{error}\n{rules}");
            Assert.Contains($"SUCCESS: {expressions.Count} rules found", output + error, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static void AddNames(Dictionary<string, string> used, string text, string where)
    {
        foreach (Match name in MetricName().Matches(text))
        {
            used.TryAdd(name.Value, where);
        }
    }

    /// <summary>
    /// A copy of prometheus-kubernetes.yml whose pod discovery reads <paramref name="pods"/> from a file instead:
    /// Debian's promtool is built without Kubernetes discovery, and file discovery takes the same meta labels.
    /// </summary>
    private static DirectoryInfo KubernetesConfigOnFileDiscovery(JsonObject[] pods)
    {
        const string KubernetesDiscovery = "    kubernetes_sd_configs:\n      - role: pod\n";
        var config = File.ReadAllText(Path.Combine(PrometheusDirectory, "prometheus-kubernetes.yml")).ReplaceLineEndings("\n");
        Assert.True(config.Contains(KubernetesDiscovery, StringComparison.Ordinal),
            $"prometheus-kubernetes.yml no longer holds the block the test swaps for file discovery:\n{KubernetesDiscovery}");

        var directory = Directory.CreateTempSubdirectory("proxymesh-k8s-");
        File.WriteAllText(Path.Combine(directory.FullName, "prometheus.yml"),
            config.Replace(KubernetesDiscovery, "    file_sd_configs:\n      - files: [pods.json]\n", StringComparison.Ordinal));
        File.Copy(Path.Combine(PrometheusDirectory, "rules.yml"), Path.Combine(directory.FullName, "rules.yml"));
        File.WriteAllText(Path.Combine(directory.FullName, "pods.json"), new JsonArray([.. pods]).ToJsonString());
        return directory;
    }

    /// <summary>One target of Prometheus's Kubernetes pod discovery: a container port of a pod, or a pod without ports.</summary>
    private static JsonObject Pod(
        string name, string ip, string? portName = null, int? port = null, string phase = "Running",
        Dictionary<string, string>? annotations = null, Dictionary<string, string>? labels = null)
    {
        var meta = new JsonObject
        {
            ["__meta_kubernetes_namespace"] = "shop",
            ["__meta_kubernetes_pod_name"] = name,
            ["__meta_kubernetes_pod_ip"] = ip,
            ["__meta_kubernetes_pod_phase"] = phase,
            ["__meta_kubernetes_pod_node_name"] = "node-1",
        };
        if (portName is not null)
        {
            meta["__meta_kubernetes_pod_container_port_name"] = portName;
            meta["__meta_kubernetes_pod_container_port_number"] = port?.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in annotations ?? [])
        {
            meta["__meta_kubernetes_pod_annotation_" + key] = value;
        }

        foreach (var (key, value) in labels ?? [])
        {
            meta["__meta_kubernetes_pod_label_" + key] = value;
        }

        var host = ip.Contains(':', StringComparison.Ordinal) ? $"[{ip}]" : ip;
        return new JsonObject
        {
            ["targets"] = new JsonArray(port is null ? ip : $"{host}:{port}"),
            ["labels"] = meta,
        };
    }

    private static JsonObject Dashboard() => JsonNode.Parse(File.ReadAllText(DashboardPath))!.AsObject();

    private static JsonObject Variable(JsonObject dashboard, string name) =>
        Assert.Single(dashboard["templating"]!["list"]!.AsArray(), variable => (string?)variable!["name"] == name)!.AsObject();

    private static string VariableQuery(JsonObject variable) =>
        variable["query"] is JsonObject query ? (string)query["query"]! : (string)variable["query"]!;

    /// <summary>Every panel, including those inside (collapsed) rows.</summary>
    private static IEnumerable<JsonObject> Panels(JsonObject dashboard) =>
        dashboard["panels"]!.AsArray().Select(panel => panel!.AsObject())
            .SelectMany(panel => new[] { panel }.Concat(panel["panels"]?.AsArray().Select(inner => inner!.AsObject()) ?? []));

    private static IEnumerable<string> Expressions(JsonObject panel) =>
        panel["targets"]?.AsArray().Select(target => (string)target!["expr"]!) ?? [];

    [GeneratedRegex(@"(?<![\w:])proxymesh_[a-z0-9_]+")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"(?<![\w:])(?<name>proxymesh_[a-z0-9_]+)\{(?<labels>[^}]*)\}")]
    private static partial Regex Selector();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex RangeSelector();

    private static string RepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ProxyMesh.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no ProxyMesh.sln above {AppContext.BaseDirectory}");
    }
}
