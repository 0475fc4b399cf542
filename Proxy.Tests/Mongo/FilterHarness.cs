using System.Buffers;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Prometheus;
using ProxyMesh.Proxy.Mongo;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Tcp;

namespace ProxyMesh.Proxy.Tests.Mongo;

/// <summary>
/// One Mongo filter on one connection, driven exactly as the TCP proxy drives it (each buffer once, before it is
/// forwarded), with its own stats registry and a fake clock.
/// </summary>
internal sealed class FilterHarness : IDisposable
{
    public const string Listener = "mongo";

    private FilterHarness(Dictionary<string, string?> settings, Random random)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        Registry = Metrics.NewCustomRegistry();
        Stats = new MongoStats(Registry, configuration);
        var accessLogOptions = Options.Create(new AccessLogOptions());
        AccessLog = new AccessLogQueue(accessLogOptions, Registry);
        Factory = new MongoFilterFactory(Stats, Time, random, AccessLog, accessLogOptions, NullLogger<MongoFilter>.Instance);
        ListenerSection = configuration.GetSection($"ProxyMesh:Listeners:{Listener}");
        Filter = Factory.Create(new TcpFilterContext(Listener, ListenerSection, "test-connection"));
    }

    public CollectorRegistry Registry { get; }

    public MongoStats Stats { get; }

    public FakeTimeProvider Time { get; } = new();

    public AccessLogQueue AccessLog { get; }

    public MongoFilterFactory Factory { get; }

    public IConfigurationSection ListenerSection { get; }

    public ITcpFilter Filter { get; }

    /// <param name="mongo">Settings under the listener's <c>Mongo</c> key, e.g. <c>("MaxCollections", "2")</c>.</param>
    public static FilterHarness Create(Random? random = null, params (string Key, string Value)[] mongo)
    {
        var settings = new Dictionary<string, string?>
        {
            [$"ProxyMesh:Listeners:{Listener}:Url"] = "tcp://127.0.0.1:0",
            [$"ProxyMesh:Listeners:{Listener}:Filters:0"] = "Mongo",
        };
        foreach (var (key, value) in mongo)
        {
            settings[$"ProxyMesh:Listeners:{Listener}:Mongo:{key}"] = value;
        }

        return new FilterHarness(settings, random ?? new Random(1));
    }

    /// <summary>Client to server, whole.</summary>
    public TcpFilterVerdict Down(byte[] bytes) => Down(Sequence(bytes));

    public TcpFilterVerdict Down(ReadOnlySequence<byte> bytes)
    {
        var verdict = Filter.OnDownstreamDataAsync(bytes, CancellationToken.None);
        if (verdict.IsCompleted)
        {
            return verdict.Result;
        }

        throw new Xunit.Sdk.XunitException("no delay is configured: the filter must answer at once");
    }

    /// <summary>Server to client, whole.</summary>
    public TcpFilterVerdict Up(byte[] bytes) => Filter.OnUpstreamData(Sequence(bytes));

    /// <summary>Sends <paramref name="bytes"/> in buffers ending at <paramref name="cuts"/>; every verdict must be Continue.</summary>
    public void DownInPieces(byte[] bytes, IEnumerable<int> cuts, bool multiSegment = false)
    {
        foreach (var piece in Pieces(bytes, cuts, multiSegment))
        {
            Assert.Equal(TcpFilterVerdict.Continue, Down(piece));
        }
    }

    public void UpInPieces(byte[] bytes, IEnumerable<int> cuts, bool multiSegment = false)
    {
        foreach (var piece in Pieces(bytes, cuts, multiSegment))
        {
            Assert.Equal(TcpFilterVerdict.Continue, Filter.OnUpstreamData(piece));
        }
    }

    /// <summary>Every <c>proxymesh_mongo_*</c> sample, keyed <c>name{labels}</c> (identity labels left out).</summary>
    public async Task<SortedDictionary<string, double>> SnapshotAsync()
    {
        var text = await ScrapeAsync();
        var samples = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("proxymesh_mongo_", StringComparison.Ordinal))
            {
                continue;
            }

            var space = line.LastIndexOf(' ');
            samples[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }

        return samples;
    }

    public async Task<string> ScrapeAsync()
    {
        using var stream = new MemoryStream();
        await Registry.CollectAndExportAsTextAsync(stream);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>One sample; 0 when the series is not exported.</summary>
    public async Task<double> ValueAsync(string name, string labels = "")
    {
        var wanted = labels.Length == 0 ? $"listener=\"{Listener}\"" : $"listener=\"{Listener}\",{labels}";
        var snapshot = await SnapshotAsync();
        return snapshot.TryGetValue($"{name}{{{wanted}}}", out var value) ? value : 0;
    }

    public void Dispose() => Filter.Dispose();

    public static ReadOnlySequence<byte> Sequence(byte[] bytes) => new(bytes);

    private static IEnumerable<ReadOnlySequence<byte>> Pieces(byte[] bytes, IEnumerable<int> cuts, bool multiSegment)
    {
        var start = 0;
        var ends = cuts.Where(cut => cut > 0 && cut < bytes.Length).Distinct().Order().Append(bytes.Length);
        if (multiSegment)
        {
            // All pieces as the segments of one buffer, as a pipe reader hands out after several socket reads.
            yield return Segments(ends.Select(end => bytes[start..(start = end)]).ToArray());
            yield break;
        }

        foreach (var end in ends)
        {
            yield return new ReadOnlySequence<byte>(bytes, start, end - start);
            start = end;
        }
    }

    private static ReadOnlySequence<byte> Segments(byte[][] pieces)
    {
        var first = new Segment(pieces[0], 0);
        var last = first;
        foreach (var piece in pieces.Skip(1))
        {
            last = last.Append(piece);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
