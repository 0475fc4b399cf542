using System.Globalization;
using System.Text.Json.Nodes;
using MongoDB.Bson;
using MongoDB.Driver;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Mongo;

/// <summary>
/// Real drivers through a real <c>tcp://</c> listener with <c>Filters: ["Mongo"]</c> to CongoDB: each operation moves
/// exactly its own stats, and the proxy forwards every byte unchanged (recorded in front of and behind it).
/// </summary>
public sealed class MongoEndToEndTests(CongoDb congo) : IClassFixture<CongoDb>
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Dotnet_driver_operations_each_move_exactly_their_stats_and_bytes_pass_unchanged()
    {
        await using var mesh = await Sidecar.StartAsync(congo);
        var settings = MongoClientSettings.FromConnectionString(CongoDb.ConnectionStringFor(mesh.ClientPort));
        settings.HeartbeatInterval = TimeSpan.FromMinutes(10);
        using (var client = new MongoClient(settings))
        {
            var items = client.GetDatabase("shop").GetCollection<BsonDocument>("dotnet_items");
            var ids = Enumerable.Range(0, 5).Select(_ => ObjectId.GenerateNewId()).ToArray();

            await mesh.AssertMovesAsync(
                () => items.InsertManyAsync(ids.Select((id, i) => new BsonDocument { ["_id"] = id, ["kind"] = "a", ["n"] = i })),
                Command("insert"));

            await mesh.AssertMovesAsync(
                async () => Assert.Equal(0, (await items.Find(new BsonDocument("_id", ids[0])).FirstAsync())["n"].AsInt32),
                Query("dotnet_items", scatter: false, multi: false));

            await mesh.AssertMovesAsync(
                async () => Assert.Equal(5, (await items.Find(new BsonDocument("kind", "a")).ToListAsync()).Count),
                Query("dotnet_items", scatter: true, multi: false));

            await mesh.AssertMovesAsync(
                async () => Assert.Equal(2, (await items.Find(new BsonDocument("_id", new BsonDocument("$in", new BsonArray { ids[1], ids[2] }))).ToListAsync()).Count),
                Query("dotnet_items", scatter: false, multi: true));

            var commented = new FindOptions { Comment = "catalog.byKind", MaxTime = TimeSpan.FromSeconds(5) };
            await mesh.AssertMovesAsync(
                async () => Assert.Equal(5, (await items.Find(new BsonDocument("kind", "a"), commented).ToListAsync()).Count),
                Query("dotnet_items", scatter: true, multi: false, maxTime: true, callSite: "catalog.byKind"));

            var envoyComment = new FindOptions { Comment = """{"hostname":"web-1","httpUniqueId":"u1","callingFunction":"getItem"}""" };
            await mesh.AssertMovesAsync(
                async () => Assert.Single(await items.Find(new BsonDocument("_id", ids[3]), envoyComment).ToListAsync()),
                Query("dotnet_items", scatter: false, multi: false, callSite: "getItem"));

            var cursorReplies = 0.0;
            await mesh.AssertMovesAsync(
                async () =>
                {
                    var before = await mesh.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"getMore\"");
                    Assert.Equal(5, (await items.Find(new BsonDocument("kind", "a"), new FindOptions { BatchSize = 2 }).ToListAsync()).Count);
                    cursorReplies = await mesh.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"getMore\"") - before;
                },
                () => GetMores("dotnet_items", cursorReplies));

            await mesh.AssertMovesAsync(
                async () => Assert.Equal(1, (await items.UpdateOneAsync(new BsonDocument("n", 1), new BsonDocument("$set", new BsonDocument("kind", "b")))).ModifiedCount),
                Command("update"));

            await mesh.AssertMovesAsync(
                async () => Assert.Equal(1, (await items.DeleteOneAsync(new BsonDocument("n", 2))).DeletedCount),
                Command("delete"));

            await mesh.AssertMovesAsync(
                async () => Assert.Equal(3, (await items.Aggregate().Match(new BsonDocument("kind", "a")).ToListAsync()).Count),
                Command("aggregate"));

            // Disposing a 3.x MongoClient leaves its connections open: the cluster must be disposed to close them.
            ClusterRegistry.Instance.UnregisterAndDisposeCluster(client.Cluster);
        }

        Assert.True(await mesh.GetMoresObservedAsync() >= 2, "a find with batchSize 2 over 5 documents needs getMore");
        await mesh.AssertBytesUnchangedAsync();
        Assert.Equal(0, await mesh.ValueAsync("proxymesh_mongo_decoding_error_total"));
    }

    [Fact]
    public async Task Node_driver_workload_moves_exactly_its_stats_and_bytes_pass_unchanged()
    {
        await using var mesh = await Sidecar.StartAsync(congo);
        var before = await mesh.SnapshotAsync();
        var (exitCode, output) = await congo.RunNodeAsync(
            """
            import { MongoClient } from 'mongodb';
            const client = new MongoClient(process.env.MONGO_URL, { heartbeatFrequencyMS: 600000 });
            await client.connect();
            const items = client.db('shop').collection('node_items');
            const ids = (await items.insertMany([0, 1, 2, 3, 4].map(n => ({ n, kind: 'a' })))).insertedIds;
            const check = (what, actual, expected) => { if (actual !== expected) throw new Error(`${what}: ${actual} != ${expected}`); };
            check('byId', (await items.findOne({ _id: ids[0] })).n, 0);
            check('byKind', (await items.find({ kind: 'a' }).toArray()).length, 5);
            check('in', (await items.find({ _id: { $in: [ids[1], ids[2]] } }).toArray()).length, 2);
            check('comment', (await items.find({ kind: 'a' }, { comment: 'node.byKind', maxTimeMS: 5000 }).toArray()).length, 5);
            check('batches', (await items.find({ kind: 'a' }, { batchSize: 2 }).toArray()).length, 5);
            check('update', (await items.updateOne({ n: 1 }, { $set: { kind: 'b' } })).modifiedCount, 1);
            check('delete', (await items.deleteOne({ n: 2 })).deletedCount, 1);
            check('aggregate', (await items.aggregate([{ $match: { kind: 'a' } }]).toArray()).length, 3);
            await client.close();
            console.log('node workload done');
            """,
            new Dictionary<string, string> { ["MONGO_URL"] = CongoDb.ConnectionStringFor(mesh.ClientPort) },
            Generous);
        Assert.True(exitCode == 0, output);

        await mesh.AssertBytesUnchangedAsync();
        var moved = Sidecar.Delta(before, await mesh.SnapshotAsync());
        var getMores = moved.GetValueOrDefault(Sidecar.Key("proxymesh_mongo_cmd_total", "cmd=\"getMore\""));
        Assert.True(getMores >= 2, "a find with batchSize 2 over 5 documents needs getMore");
        var expected = Merge(
            Command("insert"), Command("update"), Command("delete"), Command("aggregate"),
            Query("node_items", scatter: false, multi: false),
            Query("node_items", scatter: true, multi: false),
            Query("node_items", scatter: false, multi: true),
            Query("node_items", scatter: true, multi: false, maxTime: true, callSite: "node.byKind"),
            GetMores("node_items", getMores));
        Sidecar.AssertSame(expected, moved);
        Assert.Equal(0, await mesh.ValueAsync("proxymesh_mongo_decoding_error_total"));
    }

    /// <summary>A command that is not a query: its count and its reply histograms.</summary>
    private static Dictionary<string, double> Command(string command) => new()
    {
        [Sidecar.Key("proxymesh_mongo_cmd_total", $"cmd=\"{command}\"")] = 1,
        [Sidecar.Key("proxymesh_mongo_cmd_reply_time_seconds_count", $"cmd=\"{command}\"")] = 1,
        [Sidecar.Key("proxymesh_mongo_cmd_reply_size_bytes_count", $"cmd=\"{command}\"")] = 1,
        [Sidecar.Key("proxymesh_mongo_cmd_reply_docs_count", $"cmd=\"{command}\"")] = 1,
    };

    /// <summary>A <c>find</c> answered in one batch.</summary>
    private static Dictionary<string, double> Query(string collection, bool scatter, bool multi, bool maxTime = false, string? callSite = null)
    {
        var moved = Command("find");
        var labels = $"collection=\"{collection}\"";
        moved[Sidecar.Key("proxymesh_mongo_collection_query_total", labels)] = 1;
        moved[Sidecar.Key("proxymesh_mongo_collection_query_reply_time_seconds_count", labels)] = 1;
        moved[Sidecar.Key("proxymesh_mongo_collection_query_reply_size_bytes_count", labels)] = 1;
        moved[Sidecar.Key("proxymesh_mongo_collection_query_reply_docs_count", labels)] = 1;
        if (scatter)
        {
            moved[Sidecar.Key("proxymesh_mongo_collection_scatter_get_total", labels)] = 1;
        }

        if (multi)
        {
            moved[Sidecar.Key("proxymesh_mongo_collection_multi_get_total", labels)] = 1;
        }

        if (!maxTime)
        {
            moved[Sidecar.Key("proxymesh_mongo_query_no_max_time_total", "")] = 1;
        }

        if (callSite is not null)
        {
            var site = $"{labels},callsite=\"{callSite}\"";
            moved[Sidecar.Key("proxymesh_mongo_callsite_query_total", site)] = 1;
            moved[Sidecar.Key("proxymesh_mongo_callsite_query_reply_time_seconds_count", site)] = 1;
            if (scatter)
            {
                moved[Sidecar.Key("proxymesh_mongo_callsite_scatter_get_total", site)] = 1;
            }

            if (multi)
            {
                moved[Sidecar.Key("proxymesh_mongo_callsite_multi_get_total", site)] = 1;
            }
        }

        return moved;
    }

    /// <summary>A scatter-get <c>find</c> read in batches: the find, its getMores, a valid cursor on every reply but the last.</summary>
    private static Dictionary<string, double> GetMores(string collection, double getMores)
    {
        var moved = Query(collection, scatter: true, multi: false);
        foreach (var name in new[] { "proxymesh_mongo_cmd_total", "proxymesh_mongo_cmd_reply_time_seconds_count", "proxymesh_mongo_cmd_reply_size_bytes_count", "proxymesh_mongo_cmd_reply_docs_count" })
        {
            moved[Sidecar.Key(name, "cmd=\"getMore\"")] = getMores;
        }

        moved[Sidecar.Key("proxymesh_mongo_reply_valid_cursor_total", "")] = getMores;
        return moved;
    }

    private static Dictionary<string, double> Merge(params Dictionary<string, double>[] parts)
    {
        var merged = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var part in parts)
        {
            foreach (var (key, value) in part)
            {
                merged[key] = merged.GetValueOrDefault(key) + value;
            }
        }

        return merged;
    }

    /// <summary>Driver → tap → ProxyMesh (tcp:// listener, Mongo filter) → tap → CongoDB.</summary>
    private sealed class Sidecar : IAsyncDisposable
    {
        private readonly RecordingTap _front;
        private readonly RecordingTap _back;
        private readonly RunningProxy _proxy;

        private Sidecar(RecordingTap front, RecordingTap back, RunningProxy proxy)
        {
            _front = front;
            _back = back;
            _proxy = proxy;
        }

        public int ClientPort => _front.Port;

        public static async Task<Sidecar> StartAsync(CongoDb congo)
        {
            var back = new RecordingTap(congo.Port);
            var config = new ProxyConfig().Cluster("mongo", $"tcp://127.0.0.1:{back.Port}");
            config.TcpListener("mongo", "mongo")["Filters"] = new JsonArray("Mongo");
            var proxy = await RunningProxy.StartAsync(config);
            var front = new RecordingTap(proxy.Listeners.UriOf("mongo").Port);
            return new Sidecar(front, back, proxy);
        }

        public static string Key(string name, string labels) => labels.Length == 0 ? $"{name}{{listener=\"mongo\"}}" : $"{name}{{listener=\"mongo\",{labels}}}";

        public Task<double> ValueAsync(string name, string labels = "") =>
            MetricsScrape.ValueAsync(_proxy, name, labels.Length == 0 ? "listener=\"mongo\"" : $"listener=\"mongo\",{labels}");

        public async Task<double> GetMoresObservedAsync() => await ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"getMore\"");

        /// <summary>
        /// Every <c>proxymesh_mongo_*</c> sample that an application operation can move: counters and histogram counts,
        /// without the monitoring and handshake traffic a driver sends on its own (hello, isMaster, endSessions and the
        /// opcode counters they move) and without bucket lines and sums, whose values depend on timing.
        /// </summary>
        public async Task<Dictionary<string, double>> SnapshotAsync()
        {
            using var admin = Clients.Http1(_proxy.Admin);
            var text = await admin.GetStringAsync("/metrics");
            var samples = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var line in text.Split('\n'))
            {
                if (!line.StartsWith("proxymesh_mongo_", StringComparison.Ordinal) || line.Contains("_bucket{", StringComparison.Ordinal)
                    || line.Contains("_sum{", StringComparison.Ordinal) || line.StartsWith("proxymesh_mongo_op_", StringComparison.Ordinal)
                    || line.Contains("cmd=\"hello\"", StringComparison.Ordinal) || line.Contains("cmd=\"isMaster\"", StringComparison.Ordinal)
                    || line.Contains("cmd=\"endSessions\"", StringComparison.Ordinal) || line.Contains("cmd=\"ping\"", StringComparison.Ordinal))
                {
                    continue;
                }

                var space = line.LastIndexOf(' ');
                samples[WithoutIdentity(line[..space])] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            }

            return samples;
        }

        public static Dictionary<string, double> Delta(Dictionary<string, double> before, Dictionary<string, double> after)
        {
            var moved = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (key, value) in after)
            {
                var change = value - before.GetValueOrDefault(key);
                if (change != 0)
                {
                    moved[key] = change;
                }
            }

            return moved;
        }

        public static void AssertSame(Dictionary<string, double> expected, Dictionary<string, double> moved)
        {
            var describe = (Dictionary<string, double> samples) => string.Join("\n", samples.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key} {pair.Value}"));
            Assert.Equal(describe(expected), describe(moved));
        }

        /// <summary>Runs an operation and checks that exactly the expected samples moved, by exactly the expected amounts.</summary>
        public Task AssertMovesAsync(Func<Task> operation, Dictionary<string, double> expected) => AssertMovesAsync(operation, () => expected);

        public async Task AssertMovesAsync(Func<Task> operation, Func<Dictionary<string, double>> expected)
        {
            var before = await SnapshotAsync();
            await operation();

            // Stats are recorded as the reply passes the proxy, which can be just after the driver has read it.
            Dictionary<string, double> moved = [];
            await Eventually.TrueAsync(async () => (moved = Delta(before, await SnapshotAsync())).Count >= expected().Count);
            AssertSame(expected(), moved);
        }

        /// <summary>Once every connection has ended, both taps recorded the same bytes, connection by connection, each way.</summary>
        public async Task AssertBytesUnchangedAsync()
        {
            await Eventually.AssertAsync(
                () => Task.FromResult(_front.Accepted > 0 && _front.Completed == _front.Accepted && _back.Completed == _back.Accepted && _back.Accepted == _front.Accepted),
                $"every driver connection has closed on both sides of the proxy (front {_front.Completed}/{_front.Accepted}, back {_back.Completed}/{_back.Accepted})",
                Generous);
            Assert.True(_front.BytesFromClients > 0);
            Assert.Equal(_front.Fingerprints(), _back.Fingerprints());
        }

        public async ValueTask DisposeAsync()
        {
            await _front.DisposeAsync();
            await _proxy.DisposeAsync();
            await _back.DisposeAsync();
        }

        private static string WithoutIdentity(string series)
        {
            var open = series.IndexOf('{', StringComparison.Ordinal);
            if (open < 0)
            {
                return series;
            }

            var labels = series[(open + 1)..^1].Split(',').Where(label => !label.StartsWith("source_", StringComparison.Ordinal));
            return $"{series[..open]}{{{string.Join(",", labels)}}}";
        }
    }
}
