using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ProxyMesh.Proxy.Tests.Grpc;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.RateLimiting;

/// <summary>Local rate limiting end to end: token buckets per cluster and route, refilled on a fake clock.</summary>
public sealed class RateLimitTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new();
    private Backend _backend = null!;

    public async Task InitializeAsync() => _backend = await Backend.StartEchoAsync();

    public async Task DisposeAsync() => await _backend.DisposeAsync();

    private ProxyConfig Config() => PolicyConfig.TwoClusters(_backend.Address);

    private static JsonObject Bucket(int maxTokens, int tokensPerFill = 1, string fillInterval = "00:01:00") =>
        new() { ["Enabled"] = true, ["MaxTokens"] = maxTokens, ["TokensPerFill"] = tokensPerFill, ["FillInterval"] = fillInterval };

    private Task<RunningProxy> Start(ProxyConfig config) =>
        RunningProxy.StartAsync(config, services => services.AddSingleton<TimeProvider>(_time));

    private static async Task<HttpStatusCode[]> Burst(HttpClient client, string path, int count)
    {
        var codes = new HttpStatusCode[count];
        for (var i = 0; i < count; i++)
        {
            codes[i] = (await client.GetAsync(path)).StatusCode;
        }

        return codes;
    }

    [Fact]
    public async Task A_burst_beyond_the_bucket_is_answered_429_with_retry_after_and_the_bucket_refills_on_its_interval()
    {
        var log = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        var config = Config().Defaults("RateLimit", Bucket(maxTokens: 3, tokensPerFill: 2));
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log, ["SampleRate"] = 0 };
        await using var proxy = await Start(config);
        using var client = Clients.Http1(proxy.Ingress);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK], await Burst(client, "/x", 3));
        var limited = await client.GetAsync("/x");
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(60), limited.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await client.GetAsync("/x")).StatusCode);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_rate_limited_total", "cluster=\"app\"", 2);

        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(HttpStatusCode.TooManyRequests, (await client.GetAsync("/x")).StatusCode);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], await Burst(client, "/x", 3));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_rate_limited_total", "cluster=\"app\"", 4);

        var entries = await AccessLogFile.WaitForAsync(log, 4);
        Assert.All(entries, entry => Assert.Equal((429, "RL"), (entry.GetProperty("response_code").GetInt32(), entry.GetProperty("response_flags").GetString())));
    }

    [Fact]
    public async Task Rate_limiting_is_off_until_configured_and_a_cluster_override_wins_over_the_defaults()
    {
        await using (var unlimited = await Start(Config()))
        {
            using var client = Clients.Http1(unlimited.Ingress);
            Assert.All(await Burst(client, "/x", 20), code => Assert.Equal(HttpStatusCode.OK, code));
        }

        var config = Config().Defaults("RateLimit", Bucket(maxTokens: 1)).ClusterPolicy("other", "RateLimit", new JsonObject { ["MaxTokens"] = 3 });
        await using var proxy = await Start(config);
        using var limitedClient = Clients.Http1(proxy.Ingress);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], await Burst(limitedClient, "/x", 2));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], await Burst(limitedClient, "/other/x", 4));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_rate_limited_total", "cluster=\"other\"", 1);
    }

    [Fact]
    public async Task A_route_with_rate_limit_metadata_has_a_bucket_of_its_own()
    {
        var config = Config().Route("limited", "app", path: "/limited/{**rest}");
        config.Routes["limited"]!["Metadata"] = new JsonObject { ["ProxyMesh.RateLimit.Enabled"] = "true", ["ProxyMesh.RateLimit.MaxTokens"] = "2" };
        await using var proxy = await Start(config);
        using var client = Clients.Http1(proxy.Ingress);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], await Burst(client, "/limited/x", 3));
        Assert.All(await Burst(client, "/x", 5), code => Assert.Equal(HttpStatusCode.OK, code));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], await Burst(client, "/limited/x", 2));
    }

    [Fact]
    public async Task A_route_can_turn_its_clusters_rate_limit_off()
    {
        var config = Config().Defaults("RateLimit", Bucket(maxTokens: 1)).Route("free", "app", path: "/free/{**rest}");
        config.Routes["free"]!["Metadata"] = new JsonObject { ["ProxyMesh.RateLimit.Enabled"] = "false" };
        await using var proxy = await Start(config);
        using var client = Clients.Http1(proxy.Ingress);

        Assert.All(await Burst(client, "/free/x", 5), code => Assert.Equal(HttpStatusCode.OK, code));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], await Burst(client, "/x", 2));
    }

    [Fact]
    public async Task A_reloaded_bucket_applies_without_a_restart()
    {
        await using var proxy = await Start(Config().Defaults("RateLimit", Bucket(maxTokens: 1)));
        using var client = Clients.Http1(proxy.Ingress);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], await Burst(client, "/x", 2));

        await proxy.RewriteSettingsAsync(Config().Defaults("RateLimit", Bucket(maxTokens: 1000)));

        await Eventually.AssertAsync(async () => (await client.GetAsync("/x")).StatusCode == HttpStatusCode.OK, "the larger bucket serves");
        Assert.All(await Burst(client, "/x", 10), code => Assert.Equal(HttpStatusCode.OK, code));
    }

    [Fact]
    public async Task A_grpc_call_over_the_limit_fails_resource_exhausted()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo").Defaults("RateLimit", Bucket(maxTokens: 1));
        await using var proxy = await Start(config);
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        var client = new Echo.EchoClient(channel);

        Assert.Equal("one", (await client.UnaryAsync(new EchoRequest { Message = "one" })).Message);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new EchoRequest { Message = "two" }));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_rate_limited_total", "cluster=\"echo\"", 1);
    }

    [Fact]
    public async Task Grpc_calls_limited_before_their_message_came_leave_the_connection_usable()
    {
        // As overload shedding: a refusal before the request was read must not leave Kestrel holding the stream.
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo").Defaults("RateLimit", Bucket(maxTokens: 1));
        config.Root["ProxyMesh"]!["Limits"] = new JsonObject { ["MaxConcurrentStreams"] = 4 };
        await using var proxy = await Start(config);
        using (var channel = EchoUpstream.Channel(proxy.Ingress))
        {
            Assert.Equal("one", (await new Echo.EchoClient(channel).UnaryAsync(new EchoRequest { Message = "one" })).Message);
        }

        const int rounds = 30;
        var answers = await GrpcAnswerBeforeMessage.RunAsync(proxy.Ingress, rounds);
        Assert.True(answers.All(line => line == "answered 8 before the message"), string.Join("\n", answers));
        Assert.Equal(rounds * 4, answers.Count);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_rate_limited_total", "cluster=\"echo\"", rounds * 4);
    }
}
