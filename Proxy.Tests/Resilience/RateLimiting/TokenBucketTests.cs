using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.RateLimiting;

/// <summary>The token bucket over time and reloads: capped at its size after idling, kept when a reload leaves it unchanged.</summary>
public sealed class TokenBucketTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new();
    private Backend _backend = null!;

    public async Task InitializeAsync() => _backend = await Backend.StartEchoAsync();

    public async Task DisposeAsync() => await _backend.DisposeAsync();

    private static JsonObject Bucket(int maxTokens) =>
        new() { ["Enabled"] = true, ["MaxTokens"] = maxTokens, ["TokensPerFill"] = 2, ["FillInterval"] = "00:01:00" };

    private ProxyConfig Config(int maxTokens) => PolicyConfig.TwoClusters(_backend.Address).Defaults("RateLimit", Bucket(maxTokens));

    private static async Task<int> AdmittedOfAsync(HttpClient client, int requests)
    {
        var admitted = 0;
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.GetAsync("/x");
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"unexpected {response.StatusCode}");
            admitted += response.StatusCode == HttpStatusCode.OK ? 1 : 0;
        }

        return admitted;
    }

    [Fact]
    public async Task A_long_idle_period_refills_the_bucket_only_up_to_its_size()
    {
        await using var proxy = await RunningProxy.StartAsync(Config(maxTokens: 3), services => services.AddSingleton<TimeProvider>(_time));
        using var client = Clients.Http1(proxy.Ingress);
        Assert.Equal(3, await AdmittedOfAsync(client, 4));

        _time.Advance(TimeSpan.FromHours(1)); // 60 fills of 2 tokens
        Assert.Equal(3, await AdmittedOfAsync(client, 10));
    }

    [Fact]
    public async Task A_reload_that_leaves_the_bucket_unchanged_keeps_its_tokens_and_a_changed_one_starts_full()
    {
        await using var proxy = await RunningProxy.StartAsync(Config(maxTokens: 3), services => services.AddSingleton<TimeProvider>(_time));
        using var client = Clients.Http1(proxy.Ingress);
        Assert.Equal(2, await AdmittedOfAsync(client, 2));

        await ReloadAsync(proxy, Config(maxTokens: 3).Route("extra", "other", path: "/extra/{**rest}"));
        Assert.Equal(1, await AdmittedOfAsync(client, 3));

        await ReloadAsync(proxy, Config(maxTokens: 5));
        Assert.Equal(5, await AdmittedOfAsync(client, 6));
    }

    private static async Task ReloadAsync(RunningProxy proxy, ProxyConfig config)
    {
        var applied = await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_success_total", "");
        await proxy.RewriteSettingsAsync(config);
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_success_total", "") > applied, "the reload is applied");
    }
}
