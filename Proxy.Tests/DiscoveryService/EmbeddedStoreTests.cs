using System.Net;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.DiscoveryService;

/// <summary>The registry on the embedded store (the default): in memory, persisted to a local JSON file.</summary>
public sealed class EmbeddedStoreTests : RegistryBehaviourTests, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", "embedded-" + Guid.NewGuid().ToString("N"));

    private string FilePath => Path.Combine(_directory, "registrations.json");

    protected override Dictionary<string, string?> StoreSettings() => new()
    {
        ["Discovery:Embedded:Path"] = FilePath,
    };

    [Fact]
    public async Task Registrations_survive_a_restart()
    {
        await using (var first = await StartAsync())
        {
            using var api = new DiscoveryApi(first.Uri);
            await api.CheckInOkAsync("orders", "10.0.0.5", 8080, "rev-a");
            await api.CheckInOkAsync("orders", "10.0.0.6", 8080);
            await api.CheckInOkAsync("users", "10.0.0.7", 9000);
            using var deregister = await api.DeregisterAsync("orders", "10.0.0.6", 8080);
            Assert.Equal(HttpStatusCode.OK, deregister.StatusCode);
        }

        Assert.True(File.Exists(FilePath));
        Clock.Advance(TimeSpan.FromSeconds(10));
        await using var second = await StartAsync();
        using var again = new DiscoveryApi(second.Uri);
        var host = Assert.Single((await again.ServiceAsync("orders"))["hosts"]!.AsArray())!;
        Assert.Equal("10.0.0.5", (string?)host["ip_address"]);
        Assert.Equal("rev-a", (string?)host["revision"]);
        Assert.Equal(Clock.GetUtcNow() - TimeSpan.FromSeconds(10), DateTimeOffset.Parse((string)host["last_check_in"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(["10.0.0.7:9000"], await again.EndpointsAsync("users"));
    }

    [Fact]
    public async Task By_default_the_file_lives_under_the_content_root()
    {
        await using var discovery = await RunningDiscovery.StartAsync(new Dictionary<string, string?>(), Clock);
        using var api = new DiscoveryApi(discovery.Uri);
        await api.CheckInOkAsync("orders", "10.0.0.5", 8080);

        var environment = (Microsoft.AspNetCore.Hosting.IWebHostEnvironment)discovery.Services.GetService(typeof(Microsoft.AspNetCore.Hosting.IWebHostEnvironment))!;
        var file = Path.Combine(environment.ContentRootPath, "data", "registrations.json");
        Assert.Contains("\"10.0.0.5\"", await File.ReadAllTextAsync(file), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_check_ins_are_all_persisted()
    {
        await using (var first = await StartAsync())
        {
            using var api = new DiscoveryApi(first.Uri);
            await Task.WhenAll(Enumerable.Range(1, 40).Select(i => api.CheckInOkAsync("orders", $"10.0.1.{i}", 8080)));
        }

        await using var second = await StartAsync();
        using var again = new DiscoveryApi(second.Uri);
        Assert.Equal(40, (await again.EndpointsAsync("orders")).Length);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
