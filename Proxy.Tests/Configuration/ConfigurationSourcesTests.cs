using System.Net;
using System.Text.Json;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Configuration;

/// <summary>The real executable layers appsettings.json, a relative --config file, environment variables and --Key=value.</summary>
public sealed class ConfigurationSourcesTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", Guid.NewGuid().ToString("N"));

    public ConfigurationSourcesTests() => Directory.CreateDirectory(Path.Combine(_directory, "conf"));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Every_layer_applies_in_order()
    {
        var adminPort = ProxyProcess.FreePort();
        var settings = new ProxyConfig();
        settings.Root["ProxyMesh"]!["ServiceName"] = "from-appsettings";
        settings.Root["ProxyMesh"]!["Zone"] = "from-appsettings";
        await File.WriteAllTextAsync(Path.Combine(_directory, "appsettings.json"), settings.ToJson());
        await File.WriteAllTextAsync(
            Path.Combine(_directory, "conf", "overlay.json"),
            """{"ProxyMesh":{"ServiceName":"from-config-file","Zone":"from-config-file","Listeners":{"extra":{"Url":"http://127.0.0.1:0","Protocols":"Http2"}}}}""");

        await using var proxy = ProxyProcess.Start(
            _directory,
            ["--config", "conf/overlay.json", "--ProxyMesh:Zone=from-command-line"],
            new Dictionary<string, string>
            {
                ["ProxyMesh__Admin__Url"] = $"http://127.0.0.1:{adminPort}",
                ["ProxyMesh__ServiceName"] = "from-environment",
                ["ProxyMesh__Zone"] = "from-environment",
            });

        using var admin = Clients.Http1(new Uri($"http://127.0.0.1:{adminPort}"));
        await Eventually.AssertAsync(
            async () => (await admin.GetAsync("/ready")).StatusCode == HttpStatusCode.OK,
            $"the proxy is ready (stderr: {proxy.StandardError})",
            TimeSpan.FromSeconds(60));

        using var info = JsonDocument.Parse(await admin.GetStringAsync("/server_info"));
        Assert.Equal("from-environment", info.RootElement.GetProperty("service").GetString());
        Assert.Equal("from-command-line", info.RootElement.GetProperty("zone").GetString());
        Assert.True(info.RootElement.GetProperty("listeners").TryGetProperty("extra", out _), "the --config file's listener exists");
    }
}
