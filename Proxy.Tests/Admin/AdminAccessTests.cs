using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using ProxyMesh.Proxy.Admin;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Admin;

/// <summary>Who may reach the admin API: loopback by default, Host and Origin checks, the bearer token, no route to it.</summary>
public sealed class AdminAccessTests
{
    private const string Token = "s3cret-admin-token";

    [Theory]
    [InlineData("127.0.0.1", HttpStatusCode.OK)]
    [InlineData("localhost", HttpStatusCode.OK)]
    [InlineData("[::1]", HttpStatusCode.OK)]
    [InlineData("attacker.example", HttpStatusCode.Forbidden)] // DNS rebinding: a name that resolves to 127.0.0.1
    [InlineData("10.0.0.5", HttpStatusCode.Forbidden)]
    public async Task A_loopback_admin_answers_only_loopback_host_names(string host, HttpStatusCode expected)
    {
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig());
        using var admin = Clients.Http1(proxy.Admin);
        foreach (var path in (string[])["/ready", "/metrics", "/config_dump"])
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = $"{host}:{proxy.Admin.Port}";
            using var response = await admin.SendAsync(request);
            Assert.Equal(expected, response.StatusCode);
        }
    }

    [Fact]
    public async Task A_cross_origin_browser_request_cannot_drain_the_sidecar()
    {
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig());
        using var admin = Clients.Http1(proxy.Admin);

        using var crossOrigin = new HttpRequestMessage(HttpMethod.Post, "/healthcheck/fail") { Headers = { { "Origin", "http://attacker.example" } } };
        using var refused = await admin.SendAsync(crossOrigin);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);

        using var sameOrigin = new HttpRequestMessage(HttpMethod.Post, "/healthcheck/fail")
        {
            Headers = { { "Origin", $"http://{proxy.Admin.Authority}" } },
        };
        using var accepted = await admin.SendAsync(sameOrigin);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await admin.GetAsync("/ready")).StatusCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task With_a_token_mutating_endpoints_and_config_dump_need_it_and_reads_do_not(bool fromFile)
    {
        var config = new ProxyConfig();
        var tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, Token + "\n"); // a mounted secret often ends with a newline
        config.Root["ProxyMesh"]!["Admin"]![fromFile ? "TokenFile" : "Token"] = fromFile ? tokenFile : Token;
        try
        {
            await using var proxy = await RunningProxy.StartAsync(config);
            using var admin = Clients.Http1(proxy.Admin);

            using (var noToken = await admin.PostAsync("/healthcheck/fail", null))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
                Assert.Equal("Bearer", noToken.Headers.WwwAuthenticate.Single().Scheme);
            }

            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await Send(admin, HttpMethod.Get, "/config_dump", "wrong-token")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await Send(admin, HttpMethod.Post, "/healthcheck/fail", Token + "x")).StatusCode);
            foreach (var path in (string[])["/ready", "/server_info", "/clusters", "/metrics", "/stats"])
            {
                Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(path)).StatusCode);
            }

            using var dump = await Send(admin, HttpMethod.Get, "/config_dump", Token);
            Assert.Equal(HttpStatusCode.OK, dump.StatusCode);
            Assert.DoesNotContain(Token, await dump.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await Send(admin, HttpMethod.Post, "/healthcheck/fail", Token)).StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await admin.GetAsync("/ready")).StatusCode);
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }

    [Fact]
    public async Task Admin_paths_on_traffic_listeners_reach_no_admin_endpoint()
    {
        await using var backend = await Backend.StartEchoAsync();
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app", path: "/app/{**rest}");
        await using var proxy = await RunningProxy.StartAsync(config);
        foreach (var listener in new[] { proxy.Ingress, proxy.Egress })
        {
            using var client = Clients.Http1(listener);
            foreach (var path in (string[])["/ready", "/config_dump", "/clusters", "/metrics", "/stats", "/server_info"])
            {
                Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(path)).StatusCode);
            }

            Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync("/healthcheck/fail", null)).StatusCode);
        }

        using var admin = Clients.Http1(proxy.Admin);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
    }

    [Fact]
    public async Task A_reload_that_routes_to_the_admin_listener_is_rejected_and_the_last_good_config_serves()
    {
        await using var backend = await Backend.StartEchoAsync();
        var adminPort = ProxyProcess.FreePort();
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Admin"]!["Url"] = $"http://127.0.0.1:{adminPort}";
        await using var proxy = await RunningProxy.StartAsync(config);
        using var ingress = Clients.Http1(proxy.Ingress);
        using var admin = Clients.Http1(proxy.Admin);
        var rejectedBefore = await RejectedReloadsAsync(admin);

        config.Cluster("app", $"http://localhost:{adminPort}");
        await proxy.RewriteSettingsAsync(config);

        await Eventually.AssertAsync(async () => await RejectedReloadsAsync(admin) > rejectedBefore, "the reload is rejected");
        using var response = await ingress.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEqual("LIVE\n", await response.Content.ReadAsStringAsync()); // the echo backend answered, not admin
    }

    private static async Task<double> RejectedReloadsAsync(HttpClient admin)
    {
        foreach (var line in (await admin.GetStringAsync("/metrics")).Split('\n'))
        {
            if (line.StartsWith("proxymesh_config_update_rejected_total", StringComparison.Ordinal))
            {
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    [Theory]
    [InlineData("http://127.0.0.1:9901", true)]
    [InlineData("http://localhost:9901", true)]
    [InlineData("http://127.0.0.2:9901", true)]
    [InlineData("http://0.0.0.0:9901", true)]
    [InlineData("http://127.0.0.1:9902", false)]
    [InlineData("http://10.1.2.3:9901", false)]
    public void A_destination_at_a_loopback_admin_address_is_an_error_unless_the_cluster_allows_it(string address, bool targetsAdmin)
    {
        var problems = Validate(("ReverseProxy:Clusters:c:Destinations:d:Address", address));
        if (targetsAdmin)
        {
            Assert.StartsWith("ReverseProxy:Clusters:c:Destinations:d:Address: ", Assert.Single(problems), StringComparison.Ordinal);
            Assert.Empty(Validate(
                ("ReverseProxy:Clusters:c:Destinations:d:Address", address),
                ($"ReverseProxy:Clusters:c:Metadata:{AdminOptions.AllowAdminDestinationMetadataKey}", "true")));
        }
        else
        {
            Assert.Empty(problems);
        }
    }

    [Fact]
    public void A_non_loopback_admin_must_be_allowed_explicitly()
    {
        var problem = Assert.Single(Validate(("ProxyMesh:Admin:Url", "http://0.0.0.0:9901")));
        Assert.StartsWith("ProxyMesh:Admin:Url: 'http://0.0.0.0:9901' is reachable from other machines", problem, StringComparison.Ordinal);
        Assert.Empty(Validate(("ProxyMesh:Admin:Url", "http://0.0.0.0:9901"), ("ProxyMesh:Admin:AllowNonLoopback", "true")));
        Assert.Empty(Validate(("ProxyMesh:Admin:Url", "http://[::1]:9901")));
    }

    [Theory]
    [InlineData("ProxyMesh:Admin:Token", " ", "ProxyMesh:Admin:Token: must not be blank")]
    [InlineData("ProxyMesh:Admin:TokenFile", "/nonexistent/admin-token", "ProxyMesh:Admin:TokenFile: cannot read '/nonexistent/admin-token'")]
    public void Token_problems_name_their_key(string key, string value, string expected) =>
        Assert.StartsWith(expected, Assert.Single(Validate((key, value))), StringComparison.Ordinal);

    [Fact]
    public void Token_and_token_file_together_are_an_error() =>
        Assert.StartsWith(
            "ProxyMesh:Admin:TokenFile: set either",
            Assert.Single(Validate(("ProxyMesh:Admin:Token", Token), ("ProxyMesh:Admin:TokenFile", "/etc/hostname"))),
            StringComparison.Ordinal);

    [Fact]
    public void A_non_loopback_admin_is_announced_at_start_up_with_or_without_a_token()
    {
        Assert.Null(AdminServiceCollectionExtensions.ExposureWarning(new AdminOptions()));
        var open = AdminServiceCollectionExtensions.ExposureWarning(new AdminOptions { Url = "http://0.0.0.0:9901", AllowNonLoopback = true });
        Assert.Contains("NO token is set", open, StringComparison.Ordinal);
        var guarded = AdminServiceCollectionExtensions.ExposureWarning(new AdminOptions { Url = "http://*:9901", AllowNonLoopback = true, TokenFile = "/t" });
        Assert.Contains("require the admin bearer token", guarded, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_proxy_asked_to_expose_admin_without_allowing_it_does_not_start()
    {
        var directory = Directory.CreateTempSubdirectory("proxymesh-tests-").FullName;
        try
        {
            var config = new ProxyConfig();
            config.Root["ProxyMesh"]!["Admin"]!["Url"] = "http://0.0.0.0:0";
            await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), config.ToJson());
            await using var proxy = ProxyProcess.Start(directory, []);

            Assert.Equal(1, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("ProxyMesh: invalid configuration: ProxyMesh:Admin:Url: 'http://0.0.0.0:0' is reachable from other machines", proxy.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string path, string token)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await client.SendAsync(request);
    }

    private static List<string> Validate(params (string Key, string Value)[] settings)
    {
        var data = new Dictionary<string, string?> { ["ProxyMesh:Listeners:ingress:Url"] = "http://127.0.0.1:10000" };
        foreach (var (key, value) in settings)
        {
            data[key] = value;
        }

        var problems = new List<string>();
        new AdminConfigValidator().Validate(new ConfigurationBuilder().AddInMemoryCollection(data).Build(), problems);
        return problems;
    }
}
