extern alias discovery;

using System.Globalization;
using System.Net;
using discovery::ProxyMesh.Discovery;
using ProxyMesh.Proxy.Tests.Infrastructure;
using InvalidDiscoveryConfiguration = discovery::ProxyMesh.Proxy.Configuration.InvalidConfigurationException;

namespace ProxyMesh.Proxy.Tests.DiscoveryService;

/// <summary>
/// Start-up: configuration layers, and validation that refuses a bad configuration with one line per problem naming
/// the key — checked in-process for every rule and from the real executable for what a user sees (stderr, exit 1).
/// </summary>
public sealed class DiscoveryStartupTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", "discovery-startup-" + Guid.NewGuid().ToString("N"));

    public DiscoveryStartupTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("--Discovery:Store=Cassandra", "Discovery:Store: 'Cassandra' is not a store; use Embedded or DynamoDb")]
    [InlineData("--Discovery:HostTtl=abc", "Discovery:HostTtl: 'abc' is not a duration; use seconds (600) or hh:mm:ss (00:10:00)")]
    [InlineData("--Discovery:HostTtl=0", "Discovery:HostTtl: '0' is out of range; use 1 s to 365 days")]
    [InlineData("--Discovery:CacheTtl=-1", "Discovery:CacheTtl: '-1' is out of range; use 0 s to 365 days")]
    [InlineData("--Discovery:CacheTtl=400.00:00:00", "Discovery:CacheTtl: '400.00:00:00' is out of range")]
    [InlineData("--Discovery:Url=http://example.com:80", "Discovery:Url: 'http://example.com:80' has host 'example.com'")]
    [InlineData("--Discovery:Url=https://127.0.0.1:8443", "Discovery:Url: 'https://127.0.0.1:8443' must start with http://")]
    [InlineData("--Discovery:Url=http://127.0.0.1", "Discovery:Url: 'http://127.0.0.1' has no port")]
    [InlineData("--Discovery:Env= ", "Discovery:Env: must not be empty")]
    [InlineData("--Discovery:Stor=DynamoDb", "Discovery:Stor: unknown key; expected one of Url, Env, Store, HostTtl, CacheTtl, DynamoDb, Embedded")]
    [InlineData("--Discovery:DynamoDb:ServiceUrl=localhost:8000", "Discovery:DynamoDb:ServiceUrl: 'localhost:8000' is not an absolute http:// or https:// URL")]
    [InlineData("--Discovery:DynamoDb:Region=US East", "Discovery:DynamoDb:Region: 'US East' is not a region name such as us-east-1")]
    [InlineData("--Discovery:DynamoDb:Table=x", "Discovery:DynamoDb:Table: 'x' is not a DynamoDB table name")]
    [InlineData("--Discovery:DynamoDb:CreateTable=yes", "Discovery:DynamoDb:CreateTable: 'yes' is not true or false")]
    [InlineData("--Discovery:DynamoDb:Tabel=t1", "Discovery:DynamoDb:Tabel: unknown key; expected one of ServiceUrl, Region, Table, CreateTable")]
    [InlineData("--Discovery:Embedded:Path=data/", "Discovery:Embedded:Path: 'data/' is not a file path")]
    public void An_invalid_setting_is_refused_with_one_line_naming_the_key(string argument, string expected)
    {
        var problem = Assert.Single(Assert.Throws<InvalidDiscoveryConfiguration>(() => DiscoveryApplication.Build([argument], _directory)).Problems);
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_gets_its_own_line()
    {
        var problems = Assert.Throws<InvalidDiscoveryConfiguration>(
            () => DiscoveryApplication.Build(["--Discovery:Store=Cassandra", "--Discovery:HostTtl=soon", "--Discovery:DynamoDb:Table=x"], _directory)).Problems;
        Assert.Equal(3, problems.Count);
        Assert.Collection(
            problems,
            line => Assert.StartsWith("Discovery:Store: ", line, StringComparison.Ordinal),
            line => Assert.StartsWith("Discovery:HostTtl: ", line, StringComparison.Ordinal),
            line => Assert.StartsWith("Discovery:DynamoDb:Table: ", line, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("600", 600)]
    [InlineData("1.5", 1.5)]
    [InlineData("00:10:00", 600)]
    [InlineData("1.00:00:00", 86400)]
    public void Durations_are_seconds_or_hh_mm_ss(string value, double seconds)
    {
        var app = DiscoveryApplication.Build([$"--Discovery:HostTtl={value}", "--Discovery:Url=http://127.0.0.1:0"], _directory);
        var options = (discovery::ProxyMesh.Discovery.Configuration.DiscoveryOptions)app.Services.GetService(typeof(discovery::ProxyMesh.Discovery.Configuration.DiscoveryOptions))!;
        Assert.Equal(TimeSpan.FromSeconds(seconds), options.HostTtl);
    }

    [Fact]
    public async Task The_config_file_layers_over_appsettings_and_the_command_line_over_both()
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "appsettings.json"), """{ "Discovery": { "Env": "from-appsettings", "Url": "http://127.0.0.1:0" } }""");
        await File.WriteAllTextAsync(Path.Combine(_directory, "layer.json"), """{ "Discovery": { "Env": "from-config" } }""");

        Assert.Equal("from-config", await EnvAnsweredAsync(["--config", Path.Combine(_directory, "layer.json")]));
        Assert.Equal("from-command-line", await EnvAnsweredAsync(["--config", Path.Combine(_directory, "layer.json"), "--Discovery:Env=from-command-line"]));
        Assert.Equal("from-appsettings", await EnvAnsweredAsync([]));
    }

    public static TheoryData<string[], Dictionary<string, string>, string> ExecutableFailures => new()
    {
        { [], new() { ["Discovery__Store"] = "Cassandra" }, "Discovery: invalid configuration: Discovery:Store: 'Cassandra' is not a store; use Embedded or DynamoDb" },
        { ["--config", "bad.json"], new(), "Discovery: invalid configuration: Discovery:HostTtl: 'ten minutes' is not a duration" },
        { ["--config", "broken.json"], new(), "Discovery: invalid configuration: --config: invalid JSON in '" },
        { ["--config", "missing.json"], new(), "Discovery: invalid configuration: --config: file '" },
        { [], new() { ["Discovery__Embedded__Path"] = "corrupt.json" }, "Discovery: invalid configuration: Discovery:Embedded:Path: '" },
        {
            ["--Discovery:Store=DynamoDb", "--Discovery:DynamoDb:ServiceUrl=http://127.0.0.1:1", "--Discovery:DynamoDb:CreateTable=true"],
            new(),
            "Discovery: cannot start: Discovery:DynamoDb:CreateTable: cannot create table 'proxymesh-registrations': DynamoDB unreachable"
        },
    };

    [Theory]
    [MemberData(nameof(ExecutableFailures))]
    public async Task The_executable_refuses_a_bad_configuration_with_one_stderr_line_and_exit_code_1(string[] args, Dictionary<string, string> environment, string expected)
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "bad.json"), """{ "Discovery": { "HostTtl": "ten minutes" } }""");
        await File.WriteAllTextAsync(Path.Combine(_directory, "broken.json"), """{ "Discovery": """);
        await File.WriteAllTextAsync(Path.Combine(_directory, "corrupt.json"), "{ not json");
        environment["Logging__LogLevel__Default"] = "None";
        await using var process = ProxyProcess.Start(_directory, args, environment, ProxyProcess.DiscoveryAssembly);

        Assert.Equal(1, await process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var line = Assert.Single(process.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_executable_refuses_a_port_in_use_with_one_line()
    {
        using var blocker = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var port = ((IPEndPoint)blocker.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
        await using var process = ProxyProcess.Start(
            _directory, [$"--Discovery:Url=http://127.0.0.1:{port}"], new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "None" }, ProxyProcess.DiscoveryAssembly);

        Assert.Equal(1, await process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var line = Assert.Single(process.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("Discovery: cannot listen: ", line, StringComparison.Ordinal);
        Assert.Contains(port, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_executable_serves_with_nothing_installed_and_keeps_registrations_under_its_content_root()
    {
        var url = $"http://127.0.0.1:{ProxyProcess.FreePort().ToString(CultureInfo.InvariantCulture)}";
        await using var process = ProxyProcess.Start(_directory, [$"--Discovery:Url={url}"], executable: ProxyProcess.DiscoveryAssembly);
        using var http = Clients.Http1(new Uri(url));
        await Eventually.AssertAsync(
            async () => (await http.GetAsync("/ready")).StatusCode == HttpStatusCode.OK,
            $"the discovery service answers /ready at {url} ({process.StandardError})");

        using var api = new DiscoveryApi(new Uri(url));
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);
        Assert.Equal(["10.0.0.5:8080"], await api.EndpointsAsync("orders"));
        Assert.Contains("\"10.0.0.5\"", await File.ReadAllTextAsync(Path.Combine(_directory, "data", "registrations.json")), StringComparison.Ordinal);
    }

    private async Task<string?> EnvAnsweredAsync(string[] args)
    {
        var app = DiscoveryApplication.Build([.. args, "--Logging:LogLevel:Default=Warning"], _directory);
        await app.StartAsync();
        try
        {
            using var api = new DiscoveryApi(new Uri(app.Urls.First()));
            return (string?)(await api.ServiceAsync("orders"))["env"];
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
