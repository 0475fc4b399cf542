using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.DiscoveryService;

/// <summary>
/// What the discovery service does whatever its store: every test here runs once per store (see the subclasses),
/// over HTTP against the real service, on a fake clock.
/// </summary>
public abstract class RegistryBehaviourTests
{
    protected FakeTimeProvider Clock { get; } = NewClock();

    /// <summary>A fake clock at the current time, to the millisecond (what the service stamps check-ins with).</summary>
    internal static FakeTimeProvider NewClock() => new(DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

    /// <summary>The store's own settings (Discovery:Store and what it needs).</summary>
    protected abstract Dictionary<string, string?> StoreSettings();

    protected Task<RunningDiscovery> StartAsync(params (string Key, string Value)[] settings) => StartAsync(null, settings);

    /// <param name="services">Changes to the service's services, e.g. a store wrapped to hold its reads.</param>
    protected async Task<RunningDiscovery> StartAsync(Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? services, params (string Key, string Value)[] settings)
    {
        var all = StoreSettings();
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        return await RunningDiscovery.StartAsync(all, Clock, services);
    }

    [Fact]
    public async Task A_check_in_with_form_fields_as_lyfts_agent_sends_them_is_answered_on_get()
    {
        await using var discovery = await StartAsync();
        using var api = new DiscoveryApi(discovery.Uri);

        using var checkIn = await api.PostAsync("orders", "application/x-www-form-urlencoded", DiscoveryApi.Form(
            ("ip", "10.0.0.5"),
            ("port", "8080"),
            ("revision", "7ac0a37"),
            ("service_repo_name", "orders-repo"),
            ("tags", """{"az":"us-east-1a","region":"us-east-1","instance_id":"i-97175481","canary":"true","load_balancing_weight":"30"}""")));
        Assert.Equal(HttpStatusCode.OK, checkIn.StatusCode);

        var answer = await api.ServiceAsync("orders");
        Assert.Equal("orders", (string?)answer["service"]);
        Assert.Equal("production", (string?)answer["env"]);
        Assert.False(answer.ContainsKey("stale"));
        var host = Assert.Single(answer["hosts"]!.AsArray())!;
        Assert.Equal("10.0.0.5", (string?)host["ip_address"]);
        Assert.Equal(8080, (int)host["port"]!);
        Assert.Equal("7ac0a37", (string?)host["revision"]);
        Assert.Equal("orders", (string?)host["service"]);
        Assert.Equal("orders-repo", (string?)host["service_repo_name"]);
        Assert.Equal(Clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture), (string?)host["last_check_in"]);
        var tags = host["tags"]!;
        Assert.Equal("us-east-1a", (string?)tags["az"]);
        Assert.Equal("us-east-1", (string?)tags["region"]);
        Assert.Equal("i-97175481", (string?)tags["instance_id"]);
        Assert.True((bool)tags["canary"]!);
        Assert.Equal(30, (int)tags["load_balancing_weight"]!);
    }

    [Fact]
    public async Task A_check_in_with_a_json_body_is_answered_on_get_with_its_address_in_canonical_form()
    {
        await using var discovery = await StartAsync(("Discovery:Env", "staging"));
        using var api = new DiscoveryApi(discovery.Uri);

        using var checkIn = await api.PostAsync(
            "payments", "application/json", """{"ip":"2001:DB8::0001","port":9211,"revision":"abc","tags":{"az":"b","canary":false,"load_balancing_weight":100}}""");
        Assert.Equal(HttpStatusCode.OK, checkIn.StatusCode);

        var answer = await api.ServiceAsync("payments");
        Assert.Equal("staging", (string?)answer["env"]);
        var host = Assert.Single(answer["hosts"]!.AsArray())!;
        Assert.Equal("2001:db8::1", (string?)host["ip_address"]);
        Assert.False((bool)host["tags"]!["canary"]!);
        Assert.Equal(100, (int)host["tags"]!["load_balancing_weight"]!);
        Assert.False(host["tags"]!.AsObject().ContainsKey("region"));
        Assert.False(host.AsObject().ContainsKey("service_repo_name"));

        // The other spelling of the address names the same host.
        using var deregister = await api.DeregisterAsync("payments", "2001:db8:0:0::1", 9211);
        Assert.Equal(HttpStatusCode.OK, deregister.StatusCode);
        Assert.Empty(await api.EndpointsAsync("payments"));
    }

    [Fact]
    public async Task A_repeat_check_in_refreshes_the_host_instead_of_adding_one()
    {
        await using var discovery = await StartAsync();
        using var api = new DiscoveryApi(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080, "rev-1");
        Assert.Single(await api.EndpointsAsync("orders"));

        Clock.Advance(TimeSpan.FromSeconds(45));
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080, "rev-2");

        var host = Assert.Single((await api.ServiceAsync("orders"))["hosts"]!.AsArray())!;
        Assert.Equal("rev-2", (string?)host["revision"]);
        Assert.Equal(Clock.GetUtcNow(), DateTimeOffset.Parse((string)host["last_check_in"]!, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_host_is_left_out_once_its_last_check_in_is_older_than_the_host_ttl()
    {
        await using var discovery = await StartAsync(("Discovery:HostTtl", "60"), ("Discovery:CacheTtl", "5"));
        using var api = new DiscoveryApi(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);
        await api.CheckInOkAsync("orders", "10.0.0.6", 8080);
        Clock.Advance(TimeSpan.FromSeconds(40));
        await api.CheckInOkAsync("orders", "10.0.0.6", 8080); // keeps checking in

        Clock.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(["10.0.0.5:8080", "10.0.0.6:8080"], await api.EndpointsAsync("orders"));

        Clock.Advance(TimeSpan.FromSeconds(1)); // 61 s since 10.0.0.5 checked in; still within the cache TTL of the last read
        Assert.Equal(["10.0.0.6:8080"], await api.EndpointsAsync("orders"));

        Clock.Advance(TimeSpan.FromSeconds(40)); // and after a fresh store read
        Assert.Empty(await api.EndpointsAsync("orders"));
    }

    [Fact]
    public async Task Deregistration_removes_the_host_and_a_second_one_finds_nothing()
    {
        await using var discovery = await StartAsync();
        using var api = new DiscoveryApi(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8081);
        Assert.Equal(2, (await api.EndpointsAsync("orders")).Length);

        using var first = await api.DeregisterAsync("orders", "10.0.0.5", 8080);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(["10.0.0.5:8081"], await api.EndpointsAsync("orders"));

        Clock.Advance(TimeSpan.FromMinutes(1)); // past the cache: the store itself no longer has it
        Assert.Equal(["10.0.0.5:8081"], await api.EndpointsAsync("orders"));

        using var second = await api.DeregisterAsync("orders", "10.0.0.5", 8080);
        Assert.Equal(HttpStatusCode.NotFound, second.StatusCode);
        Assert.Equal(1, await api.MetricAsync("discovery_deregistrations_total"));
    }

    [Fact]
    public async Task Repeat_reads_within_the_cache_ttl_are_answered_without_reading_the_store()
    {
        await using var discovery = await StartAsync(("Discovery:CacheTtl", "30"));
        using var api = new DiscoveryApi(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);

        for (var i = 0; i < 5; i++)
        {
            Assert.Single(await api.EndpointsAsync("orders"));
            Clock.Advance(TimeSpan.FromSeconds(5));
        }

        Assert.Equal(1, await api.MetricAsync("""discovery_store_requests_total{operation="read"}"""));
        Assert.Equal(1, await api.MetricAsync("discovery_cache_misses_total"));
        Assert.Equal(4, await api.MetricAsync("discovery_cache_hits_total"));
        Assert.Equal(5, await api.MetricAsync("discovery_reads_total"));

        Clock.Advance(TimeSpan.FromSeconds(5)); // 30 s since the store was read
        Assert.Single(await api.EndpointsAsync("orders"));
        Assert.Equal(2, await api.MetricAsync("""discovery_store_requests_total{operation="read"}"""));
        Assert.Equal(2, await api.MetricAsync("discovery_cache_misses_total"));
    }

    [Fact]
    public async Task The_hosts_gauge_counts_live_hosts_per_service()
    {
        await using var discovery = await StartAsync(("Discovery:HostTtl", "60"));
        using var api = new DiscoveryApi(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);
        await api.CheckInOkAsync("orders", "10.0.0.6", 8080);
        await api.CheckInOkAsync("users", "10.0.0.7", 8080);
        await api.EndpointsAsync("orders");
        await api.EndpointsAsync("users");

        Assert.Equal(2, await api.MetricAsync("""discovery_hosts{service="orders"}"""));
        Assert.Equal(1, await api.MetricAsync("""discovery_hosts{service="users"}"""));

        Clock.Advance(TimeSpan.FromSeconds(61));
        Assert.DoesNotContain("discovery_hosts{", await api.MetricsTextAsync(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string, string> MalformedCheckIns
    {
        get
        {
            const string form = "application/x-www-form-urlencoded";
            const string json = "application/json";
            string Form(string ip = "10.0.0.5", string port = "8080", string tags = """{"az":"a"}""", params (string, string)[] more) =>
                DiscoveryApi.Form([("ip", ip), ("port", port), ("revision", "r"), ("tags", tags), .. more]);
            return new()
            {
                { "orders", form, Form(ip: "10.0.0.300"), "ip: '10.0.0.300' is not an IPv4 (a.b.c.d) or IPv6 address" },
                { "orders", form, Form(ip: "not-an-ip"), "ip: 'not-an-ip' is not an IPv4" },
                { "orders", form, Form(ip: "010.0.0.5"), "ip: '010.0.0.5' is not an IPv4" },
                { "orders", form, Form(ip: "10.0.5"), "ip: '10.0.5' is not an IPv4" },
                { "orders", form, Form(ip: "fe80::1%eth0"), "ip: 'fe80::1%eth0' is not an IPv4" },
                { "orders", form, Form(ip: "0.0.0.0"), "ip: '0.0.0.0' is not a unicast address" },
                { "orders", form, Form(ip: "224.0.0.1"), "ip: '224.0.0.1' is not a unicast address" },
                { "orders", form, DiscoveryApi.Form(("port", "8080")), "ip: missing" },
                { "orders", form, Form(port: "0"), "port: '0' is not a port in 1-65535" },
                { "orders", form, Form(port: "65536"), "port: '65536' is not a port in 1-65535" },
                { "orders", form, Form(port: "-1"), "port: '-1' is not a port" },
                { "orders", form, Form(port: "80a"), "port: '80a' is not a port" },
                { "orders", form, DiscoveryApi.Form(("ip", "10.0.0.5")), "port: missing" },
                { "orders", json, """{"ip":"10.0.0.5","port":8080.5}""", "port: '8080.5' is not a port" },
                { "orders", json, """{"ip":"10.0.0.5","port":true}""", "port: expected a number, got True" },
                { "orders", form, Form(tags: """{"load_balancing_weight":0}"""), "tags.load_balancing_weight: '0' is not a whole number in 1-100" },
                { "orders", form, Form(tags: """{"load_balancing_weight":"101"}"""), "tags.load_balancing_weight: '101' is not a whole number in 1-100" },
                { "orders", json, """{"ip":"10.0.0.5","port":80,"tags":{"load_balancing_weight":2.5}}""", "tags.load_balancing_weight: '2.5' is not a whole number" },
                { "orders", form, Form(tags: """{"canary":"yes"}"""), "tags.canary: expected true or false" },
                { "orders", form, Form(tags: """{"az":5}"""), "tags.az: expected a string, got Number" },
                { "orders", form, Form(tags: """{"color":"blue"}"""), "tags.color: unknown tag; expected az, region, instance_id, canary, load_balancing_weight" },
                { "orders", form, Form(tags: """{"az":"a","az":"b"}"""), "tags.az: given twice" },
                { "orders", form, Form(tags: "{az"), "tags: not valid JSON" },
                { "orders", form, Form(tags: "[1,2]"), "tags: expected a JSON object, got Array" },
                { "orders", form, Form(more: ("color", "blue")), "color: unknown field; expected ip, port, revision, tags, service_repo_name" },
                { "orders", form, DiscoveryApi.Form(("ip", "10.0.0.5"), ("ip", "10.0.0.6"), ("port", "80")), "ip: given 2 times" },
                { "orders", form, Form(more: ("service_repo_name", new string('x', 257))), "service_repo_name: 257 characters is longer than the 256 allowed" },
                { "orders", form, Form(tags: $$"""{"instance_id":"{{new string('i', 300)}}"}"""), "tags.instance_id: 300 characters is longer than the 256 allowed" },
                { "orders", form, Form(more: ("revision", "a\u0001b")).Replace("revision=r&", "", StringComparison.Ordinal), "revision: control characters are not allowed" },
                { "orders", form, Form(more: ("padding", new string('p', 20_000))), "body: larger than the 16384 bytes allowed" },
                { "orders", json, """{"ip":"10.0.0.5","port":80,"ip":"10.0.0.6"}""", "ip: given twice" },
                { "orders", json, """{"ip":"10.0.0.5","port":80,"extra":{}}""", "extra: unknown field" },
                { "orders", json, "[1]", "body: expected a JSON object, got Array" },
                { "orders", json, """{"ip":"10.0.0.5","port":""", "body: not valid JSON" },
                { "orders", "text/plain", "ip=10.0.0.5&port=80", "Content-Type: expected application/x-www-form-urlencoded (form fields) or application/json" },
                { "bad%20name", form, Form(), "service: 'bad name' is not a service name" },
                { "-orders", form, Form(), "service: '-orders' is not a service name" },
                { new string('s', 129), form, Form(), "is not a service name; use 1-128 characters" },
            };
        }
    }

    [Theory]
    [MemberData(nameof(MalformedCheckIns))]
    public async Task A_malformed_check_in_is_refused_with_its_reason_and_stored_nowhere(string service, string contentType, string body, string reason)
    {
        await using var discovery = await StartAsync();
        using var api = new DiscoveryApi(discovery.Uri);

        using var response = await api.PostAsync(service, contentType, body);

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, (string?)JsonNode.Parse(text)!["error"], StringComparison.Ordinal);
        Assert.Equal(1, await api.MetricAsync("""discovery_check_ins_total{result="rejected"}"""));
        Assert.Equal(0, await api.MetricAsync("""discovery_check_ins_total{result="accepted"}"""));
        Assert.Equal(0, await api.MetricAsync("""discovery_store_requests_total{operation="write"}"""));
        Assert.Empty(await api.EndpointsAsync("orders"));
    }

    [Theory]
    [InlineData("bad%20name", "10.0.0.5", "80", "service: 'bad name' is not a service name")]
    [InlineData("orders", "10.0.0.256", "80", "ip: '10.0.0.256' is not an IPv4")]
    [InlineData("orders", "10.0.0.5", "70000", "port: '70000' is not a port in 1-65535")]
    public async Task Reads_and_deregistrations_with_a_bad_service_address_or_port_are_refused(string service, string ip, string port, string reason)
    {
        await using var discovery = await StartAsync();
        using var http = Clients.Http1(discovery.Uri);

        using var delete = await http.DeleteAsync($"/v1/registration/{service}/{ip}/{port}");
        Assert.Equal(HttpStatusCode.BadRequest, delete.StatusCode);
        Assert.Contains(reason, await delete.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        if (service != "orders")
        {
            using var get = await http.GetAsync($"/v1/registration/{service}");
            Assert.Equal(HttpStatusCode.BadRequest, get.StatusCode);
            Assert.Contains(reason, await get.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Ready_and_metrics_are_served_on_the_same_listener_and_promtool_finds_nothing_wrong_with_the_metrics()
    {
        await using var discovery = await StartAsync();
        using var api = new DiscoveryApi(discovery.Uri);
        using var http = Clients.Http1(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);
        await api.EndpointsAsync("orders");

        using var ready = await http.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("LIVE\n", await ready.Content.ReadAsStringAsync());

        var metrics = await api.MetricsTextAsync();
        Assert.Equal("", await Promtool.CheckMetricsAsync(metrics));
        var lines = metrics.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var types = lines.Where(line => line.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(line => line.Split(' ')).ToArray();
        Assert.Equal(
            ["discovery_cache_hits_total", "discovery_cache_misses_total", "discovery_check_ins_total", "discovery_deregistrations_total",
             "discovery_hosts", "discovery_reads_total", "discovery_stale_answers_total", "discovery_store_errors_total", "discovery_store_requests_total"],
            types.Select(type => type[2]).Order(StringComparer.Ordinal));
        foreach (var type in types)
        {
            Assert.Matches("^discovery_[a-z_]+$", type[2]);
            Assert.Equal(type[3] == "counter", type[2].EndsWith("_total", StringComparison.Ordinal));
            Assert.Contains(lines, line => line.StartsWith($"# HELP {type[2]} ", StringComparison.Ordinal));
        }
    }
}
