using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.DiscoveryService;

/// <summary>The registry on DynamoDB, against a real DynamoDB-compatible server (dynalite); a fresh table per test.</summary>
public sealed class DynamoDbStoreTests(Dynalite dynalite) : RegistryBehaviourTests, IClassFixture<Dynalite>
{
    private readonly string _table = "registrations-" + Guid.NewGuid().ToString("N");

    protected override Dictionary<string, string?> StoreSettings() => Settings(dynalite, _table);

    internal static Dictionary<string, string?> Settings(Dynalite dynalite, string table) => new()
    {
        ["Discovery:Store"] = "DynamoDb",
        ["Discovery:DynamoDb:ServiceUrl"] = dynalite.ServiceUrl.ToString(),
        ["Discovery:DynamoDb:Table"] = table,
        ["Discovery:DynamoDb:CreateTable"] = "true",
    };

    [Fact]
    public async Task Two_instances_over_one_table_converge()
    {
        await using var a = await StartAsync(("Discovery:CacheTtl", "30"));
        await using var b = await StartAsync(("Discovery:CacheTtl", "30"));
        using var apiA = new DiscoveryApi(a.Uri);
        using var apiB = new DiscoveryApi(b.Uri);
        Assert.Empty(await apiB.EndpointsAsync("orders"));

        await apiA.CheckInOkAsync("orders", "10.0.0.5", 8080);
        Assert.Equal(["10.0.0.5:8080"], await apiA.EndpointsAsync("orders"));
        Assert.Empty(await apiB.EndpointsAsync("orders")); // B answers its cached view until it expires

        Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(["10.0.0.5:8080"], await apiB.EndpointsAsync("orders"));

        await apiB.CheckInOkAsync("orders", "10.0.0.6", 8080);
        using (var deregister = await apiB.DeregisterAsync("orders", "10.0.0.5", 8080))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, deregister.StatusCode);
        }

        Assert.Equal(["10.0.0.6:8080"], await apiB.EndpointsAsync("orders"));
        Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(["10.0.0.6:8080"], await apiA.EndpointsAsync("orders"));
    }

    [Fact]
    public async Task Concurrent_reads_of_a_cold_service_share_one_store_read()
    {
        await using var writer = await StartAsync();
        using (var api = new DiscoveryApi(writer.Uri))
        {
            await api.CheckInOkAsync("orders", "10.0.0.5", 8080);
        }

        // The reader's store reads wait at a gate, so every poll is in flight before the first read can finish:
        // without sharing, each of them would reach the store.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        GatedRegistrationStore? store = null;
        await using var reader = await StartAsync(services => GatedRegistrationStore.Wrap(services, gate.Task, created => store = created));
        using var pollers = new DiscoveryApi(reader.Uri);
        var polls = Enumerable.Range(0, 24).Select(_ => pollers.EndpointsAsync("orders")).ToList();
        await Eventually.AssertAsync(async () => await pollers.MetricAsync("discovery_cache_misses_total") == 24, "every poll is in flight");
        Assert.Equal(1, store!.Reads);
        gate.SetResult();

        var answers = await Task.WhenAll(polls);
        Assert.All(answers, answer => Assert.Equal(["10.0.0.5:8080"], answer));
        Assert.Equal(1, store.Reads);
        Assert.Equal(1, await pollers.MetricAsync("""discovery_store_requests_total{operation="read"}"""));
        Assert.Equal(24, await pollers.MetricAsync("discovery_reads_total"));
    }

    [Fact]
    public async Task Items_follow_the_documented_table_design()
    {
        await using var discovery = await StartAsync(("Discovery:HostTtl", "600"));
        using (var api = new DiscoveryApi(discovery.Uri))
        {
            using var response = await api.CheckInAsync("orders", "10.0.0.5", 8080, "rev-1", """{"az":"a","canary":true,"load_balancing_weight":5}""");
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }

        using var client = new AmazonDynamoDBClient(
            new BasicAWSCredentials("test", "test"),
            new AmazonDynamoDBConfig { ServiceURL = dynalite.ServiceUrl.ToString(), AuthenticationRegion = "us-east-1" });
        var table = await client.DescribeTableAsync(_table);
        Assert.Equal(
            ["service:HASH", "endpoint:RANGE"],
            table.Table.KeySchema.Select(key => $"{key.AttributeName}:{key.KeyType.Value}"));

        var item = (await client.GetItemAsync(new GetItemRequest
        {
            TableName = _table,
            Key = new() { ["service"] = new() { S = "orders" }, ["endpoint"] = new() { S = "10.0.0.5:8080" } },
        })).Item;
        Assert.Equal("10.0.0.5", item["ip_address"].S);
        Assert.Equal("8080", item["port"].N);
        Assert.Equal("rev-1", item["revision"].S);
        var lastCheckIn = long.Parse(item["last_check_in"].N, CultureInfo.InvariantCulture);
        Assert.Equal(Clock.GetUtcNow().ToUnixTimeMilliseconds(), lastCheckIn);
        Assert.Equal(Clock.GetUtcNow().ToUnixTimeSeconds() + 600, long.Parse(item["expires_at"].N, CultureInfo.InvariantCulture));
        Assert.Equal("a", item["tags"].M["az"].S);
        Assert.True(item["tags"].M["canary"].BOOL);
        Assert.Equal("5", item["tags"].M["load_balancing_weight"].N);
    }
}
