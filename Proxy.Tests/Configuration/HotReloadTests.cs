using System.Net;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Configuration;

/// <summary>Routes and clusters reload from the files on change; a bad reload is rejected and the last good one keeps serving.</summary>
public sealed class HotReloadTests : IAsyncLifetime
{
    private Backend _blue = null!;
    private Backend _green = null!;

    public async Task InitializeAsync()
    {
        _blue = await Backend.StartEchoAsync("blue");
        _green = await Backend.StartEchoAsync("green");
    }

    public async Task DisposeAsync()
    {
        await _blue.DisposeAsync();
        await _green.DisposeAsync();
    }

    private ProxyConfig Config(string cluster, string path = "/app/{**rest}") => new ProxyConfig()
        .Cluster("blue", _blue.Address)
        .Cluster("green", _green.Address)
        .Route("app", cluster, path);

    [Fact]
    public async Task A_changed_route_serves_without_a_restart()
    {
        await using var proxy = await RunningProxy.StartAsync(Config("blue"));
        using var client = Clients.Http1(proxy.Ingress);
        Assert.Equal("blue", await BackendAt(client, "/app/x"));

        await proxy.RewriteSettingsAsync(Config("green", path: "/v2/{**rest}"));

        await Eventually.AssertAsync(async () => await BackendAt(client, "/v2/x") == "green", "the new route serves");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/app/x")).StatusCode);
        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_success_total") == 1, "the reload is counted");
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_rejected_total"));
    }

    public static TheoryData<string, string> BadReloads => new()
    {
        { "unknown cluster", """{"ReverseProxy":{"Routes":{"app":{"ClusterId":"nowhere","Match":{"Path":"/{**all}"}}}}}""" },
        { "malformed JSON", """{"ReverseProxy": {"Routes": """ },
        { "value YARP cannot read", """{"ReverseProxy":{"Clusters":{"blue":{"HttpRequest":{"Version":"x.y.z"}}}}}""" },
        { "invalid listener", """{"ProxyMesh":{"Listeners":{"ingress":{"Url":"ftp://nowhere"}}}}""" },
        { "empty file", "" },
    };

    [Theory]
    [MemberData(nameof(BadReloads))]
    public async Task A_bad_reload_is_rejected_and_counted_and_the_last_good_configuration_keeps_serving(string what, string badSettings)
    {
        await using var proxy = await RunningProxy.StartAsync(Config("blue"));
        using var client = Clients.Http1(proxy.Ingress);

        await proxy.RewriteSettingsAsync(Config("blue").ToJsonWith(badSettings));

        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_rejected_total") == 1, $"the {what} reload is rejected");
        Assert.Equal("blue", await BackendAt(client, "/app/x"));
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_success_total"));

        await proxy.RewriteSettingsAsync(Config("green"));
        await Eventually.AssertAsync(async () => await BackendAt(client, "/app/x") == "green", "a good reload after a bad one applies");
    }

    [Fact]
    public async Task A_deleted_settings_file_keeps_the_last_good_configuration()
    {
        await using var proxy = await RunningProxy.StartAsync(Config("blue"));
        using var client = Clients.Http1(proxy.Ingress);

        File.Delete(proxy.SettingsPath);

        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_rejected_total") == 1, "the deletion is rejected");
        Assert.Equal("blue", await BackendAt(client, "/app/x"));
    }

    [Fact]
    public async Task The_config_file_argument_layers_over_appsettings_and_reloads_too()
    {
        var overlay = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(overlay, """{"ReverseProxy":{"Routes":{"app":{"ClusterId":"green"}}}}""");
        try
        {
            await using var proxy = await RunningProxy.StartAsync(Config("blue"), "--config", overlay);
            using var client = Clients.Http1(proxy.Ingress);
            Assert.Equal("green", await BackendAt(client, "/app/x"));

            await File.WriteAllTextAsync(overlay, """{"ReverseProxy":{"Routes":{"app":{"ClusterId":"blue"}}}}""");

            await Eventually.AssertAsync(async () => await BackendAt(client, "/app/x") == "blue", "the overlay's change applies");
        }
        finally
        {
            File.Delete(overlay);
        }
    }

    private static async Task<string> BackendAt(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        return response.StatusCode == HttpStatusCode.OK ? response.Headers.GetValues("x-backend").Single() : $"status {(int)response.StatusCode}";
    }
}
