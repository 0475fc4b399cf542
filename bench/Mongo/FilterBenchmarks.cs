using System.Buffers;
using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using Prometheus;
using ProxyMesh.Proxy.Mongo;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Tcp;

namespace ProxyMesh.Bench.Mongo;

/// <summary>
/// The Mongo filter on one connection, fed exactly as the TCP proxy feeds it (each socket read once, in place):
/// a conversation of realistic OP_MSG requests and replies, cut into reads of <see cref="ReadSize"/> bytes. One
/// operation passes the whole conversation (<see cref="Exchanges"/> request/reply pairs) through the filter; the
/// conversation's size divided by the mean is the filter's throughput, Allocated divided by the exchanges its
/// allocation per frame. The filter is created once, as for a pooled driver connection.
/// </summary>
[MemoryDiagnoser]
public class FilterBenchmarks
{
    public const int Exchanges = 100;

    private ITcpFilter _filter = null!;
    private ReadOnlySequence<byte>[] _requestReads = [];
    private ReadOnlySequence<byte>[] _replyReads = [];
    private byte[] _sendBuffer = [];

    /// <summary>
    /// <c>point</c>: find by <c>_id</c> answered by one 200-byte document (an OLTP lookup);
    /// <c>batch</c>: find by another field answered by a 101-document first batch of ~1 KB each (~100 KB replies);
    /// <c>insert</c>: insert of 50 ~1 KB documents in a document sequence, answered <c>{n, ok}</c>.
    /// </summary>
    [Params("point", "batch", "insert")]
    public string Workload { get; set; } = "point";

    /// <summary>Bytes per socket read.</summary>
    [Params(65536)]
    public int ReadSize { get; set; }

    /// <summary>The conversation's bytes, both directions.</summary>
    public long ConversationBytes { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ProxyMesh:Listeners:db:Url"] = "tcp://127.0.0.1:27017",
            ["ProxyMesh:Listeners:db:Filters:0"] = "Mongo",
        }).Build();
        var registry = Metrics.NewCustomRegistry();
        var accessLogOptions = Options.Create(new AccessLogOptions());
        var factory = new MongoFilterFactory(
            new MongoStats(registry, configuration), TimeProvider.System, new Random(1), new AccessLogQueue(accessLogOptions, registry), accessLogOptions, NullLogger<MongoFilter>.Instance);

        // One long-lived connection, as drivers pool them: each operation is a steady-state stretch of its traffic.
        _filter = factory.Create(new TcpFilterContext("db", configuration.GetSection("ProxyMesh:Listeners:db"), "bench"));

        var requests = new List<byte>();
        var replies = new List<byte>();
        for (var i = 1; i <= Exchanges; i++)
        {
            var (request, reply) = Exchange(i);
            requests.AddRange(request);
            replies.AddRange(reply);
        }

        ConversationBytes = requests.Count + replies.Count;
        _sendBuffer = new byte[ReadSize];
        _requestReads = Reads(requests.ToArray(), ReadSize);
        _replyReads = Reads(replies.ToArray(), ReadSize);
        Console.WriteLine($"// {Workload}: {ConversationBytes} bytes per operation ({Exchanges} exchanges)");
    }

    [GlobalCleanup]
    public void Cleanup() => _filter.Dispose();

    /// <summary>
    /// The least a proxy does with the same reads: copy each once (as one socket send does). The filter's cost is
    /// read against this, measured in the same run, because absolute times on a shared machine are not comparable.
    /// </summary>
    [Benchmark(Baseline = true)]
    public long CopyOnce()
    {
        long copied = 0;
        for (var i = 0; i < Math.Max(_requestReads.Length, _replyReads.Length); i++)
        {
            if (i < _requestReads.Length)
            {
                _requestReads[i].CopyTo(_sendBuffer);
                copied += _requestReads[i].Length;
            }

            if (i < _replyReads.Length)
            {
                _replyReads[i].CopyTo(_sendBuffer);
                copied += _replyReads[i].Length;
            }
        }

        return copied;
    }

    [Benchmark]
    public long Conversation()
    {
        var filter = _filter;
        long verdicts = 0;
        for (var i = 0; i < Math.Max(_requestReads.Length, _replyReads.Length); i++)
        {
            if (i < _requestReads.Length)
            {
                var verdict = filter.OnDownstreamDataAsync(_requestReads[i], CancellationToken.None);
                verdicts += verdict.IsCompleted ? (int)verdict.Result : -1;
            }

            if (i < _replyReads.Length)
            {
                verdicts += (int)filter.OnUpstreamData(_replyReads[i]);
            }
        }

        return verdicts;
    }

    private (byte[] Request, byte[] Reply) Exchange(int id) => Workload switch
    {
        "point" => (
            Msg(id, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument("_id", ObjectId.GenerateNewId()), ["limit"] = 1, ["singleBatch"] = true, ["lsid"] = Session(), ["$db"] = "app" }),
            Msg(10_000 + id, id, CursorReply(1, 200))),
        "batch" => (
            Msg(id, 0, new BsonDocument { ["find"] = "events", ["filter"] = new BsonDocument("kind", "click"), ["comment"] = "feed.recent", ["maxTimeMS"] = 500, ["lsid"] = Session(), ["$db"] = "app" }),
            Msg(10_000 + id, id, CursorReply(101, 1000))),
        _ => (
            Msg(id, 0, new BsonDocument { ["insert"] = "events", ["ordered"] = true, ["lsid"] = Session(), ["$db"] = "app" }, Enumerable.Range(0, 50).Select(i => Document(i, 1000)).ToArray()),
            Msg(10_000 + id, id, new BsonDocument { ["n"] = 50, ["ok"] = 1.0 })),
    };

    private static BsonDocument Session() => new("id", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard));

    private static BsonDocument Document(int i, int size) => new()
    {
        ["_id"] = ObjectId.GenerateNewId(),
        ["n"] = i,
        ["at"] = DateTime.UnixEpoch.AddSeconds(i),
        ["body"] = new string('x', size),
    };

    private static BsonDocument CursorReply(int documents, int size) => new()
    {
        ["cursor"] = new BsonDocument
        {
            ["firstBatch"] = new BsonArray(Enumerable.Range(0, documents).Select(i => Document(i, size))),
            ["id"] = 0L,
            ["ns"] = "app.events",
        },
        ["ok"] = 1.0,
    };

    private static byte[] Msg(int requestId, int responseTo, BsonDocument body, BsonDocument[]? documents = null)
    {
        using var payload = new MemoryStream();
        payload.Write(new byte[16 + 4]);
        payload.WriteByte(0);
        payload.Write(body.ToBson());
        if (documents is not null)
        {
            using var sequence = new MemoryStream();
            sequence.Write("documents\0"u8);
            foreach (var document in documents)
            {
                sequence.Write(document.ToBson());
            }

            payload.WriteByte(1);
            var size = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(size, (int)sequence.Length + 4);
            payload.Write(size);
            payload.Write(sequence.ToArray());
        }

        var message = payload.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(message, message.Length);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(4), requestId);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(8), responseTo);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(12), 2013);
        return message;
    }

    private static ReadOnlySequence<byte>[] Reads(byte[] bytes, int size)
    {
        var reads = new List<ReadOnlySequence<byte>>();
        for (var offset = 0; offset < bytes.Length; offset += size)
        {
            reads.Add(new ReadOnlySequence<byte>(bytes, offset, Math.Min(size, bytes.Length - offset)));
        }

        return reads.ToArray();
    }
}
