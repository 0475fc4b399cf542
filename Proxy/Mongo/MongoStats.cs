using System.Collections.Concurrent;
using System.Text;
using Prometheus;
using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Mongo;

/// <summary>
/// Envoy's mongo_proxy stats (<c>mongo.&lt;prefix&gt;.op_*</c>, <c>cmd.&lt;cmd&gt;.*</c>,
/// <c>collection.&lt;c&gt;.query.*</c>, <c>collection.&lt;c&gt;.callsite.&lt;s&gt;.query.*</c>) as Prometheus series per
/// listener, sourced from OP_MSG as well as the legacy opcodes. Label values are bounded: commands from a fixed list,
/// collections and call sites capped per listener (the rest <c>other</c>). Series of a listener are resolved once;
/// a known collection or call site is found from its UTF-8 bytes without allocating.
/// </summary>
internal sealed class MongoStats
{
    public const string Other = "other";

    private static readonly double[] SizeBuckets = Histogram.ExponentialBuckets(start: 64, factor: 4, count: 11);
    private static readonly double[] DocumentBuckets = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

    private readonly Counter _ops;
    private readonly Counter _compressed;
    private readonly Counter _flags;
    private readonly Counter _commands;
    private readonly Histogram _commandTime;
    private readonly Histogram _commandSize;
    private readonly Histogram _commandDocuments;
    private readonly Counter _collectionQueries;
    private readonly Counter _collectionScatterGets;
    private readonly Counter _collectionMultiGets;
    private readonly Histogram _collectionTime;
    private readonly Histogram _collectionSize;
    private readonly Histogram _collectionDocuments;
    private readonly Counter _callSiteQueries;
    private readonly Counter _callSiteScatterGets;
    private readonly Counter _callSiteMultiGets;
    private readonly Histogram _callSiteTime;
    private readonly Counter _noMaxTime;
    private readonly Gauge _activeQueries;
    private readonly Counter _cursorNotFound;
    private readonly Counter _queryFailures;
    private readonly Counter _validCursors;
    private readonly Counter _decodingErrors;
    private readonly Counter _tooLarge;
    private readonly Counter _delays;
    private readonly Counter _closedLocalWithActive;
    private readonly Counter _closedRemoteWithActive;
    private readonly Counter _compressedDecoded;
    private readonly Counter _compressedUndecoded;
    private readonly ConcurrentDictionary<string, ListenerSeries> _series = new(StringComparer.Ordinal);

    private readonly IConfiguration? _configuration;

    /// <param name="registry">Where the series are exported.</param>
    /// <param name="configuration">The served configuration: each listener whose <c>Filters</c> names <c>Mongo</c> is exported from the start, at 0.</param>
    public MongoStats(CollectorRegistry registry, IConfiguration? configuration = null)
    {
        _configuration = configuration;
        var factory = StatsFactory.For(registry);
        string[] listener = ["listener"];
        string[] command = ["listener", "cmd"];
        string[] collection = ["listener", "collection"];
        string[] callSite = ["listener", "collection", "callsite"];
        _ops = factory.CreateCounter("proxymesh_mongo_op_total", "MongoDB messages by opcode, both directions (Envoy's op_query, op_reply, ... and OP_MSG, OP_COMPRESSED).", "listener", "op");
        _compressed = factory.CreateCounter("proxymesh_mongo_op_compressed_total", "OP_COMPRESSED messages by the opcode they wrap.", "listener", "original_op");
        _compressedDecoded = factory.CreateCounter("proxymesh_mongo_compressed_decoded_total", "OP_COMPRESSED messages decompressed and read (Mongo:Decompress), by compressor.", "listener", "compressor");
        _compressedUndecoded = factory.CreateCounter("proxymesh_mongo_compressed_undecoded_total", "OP_COMPRESSED messages passed on unread: Mongo:Decompress off, above Mongo:MaxDecompressedSize, or an unknown compressor.", "listener", "compressor");
        _flags = factory.CreateCounter("proxymesh_mongo_op_flag_total", "Messages with a flag set: OP_QUERY tailable_cursor, no_cursor_timeout, await_data, exhaust; OP_MSG checksum_present, more_to_come, exhaust_allowed.", "listener", "op", "flag");
        _commands = factory.CreateCounter("proxymesh_mongo_cmd_total", "Commands (OP_MSG, or OP_QUERY on $cmd), by command name from a fixed list (others: other).", command);
        _commandTime = factory.CreateHistogram("proxymesh_mongo_cmd_reply_time_seconds", "Time from a command to its reply.", new HistogramConfiguration { LabelNames = command, Buckets = LatencyBuckets.Seconds });
        _commandSize = factory.CreateHistogram("proxymesh_mongo_cmd_reply_size_bytes", "Size of command replies.", new HistogramConfiguration { LabelNames = command, Buckets = SizeBuckets });
        _commandDocuments = factory.CreateHistogram("proxymesh_mongo_cmd_reply_docs", "Documents in command replies (cursor batch length; 1 for a plain reply).", new HistogramConfiguration { LabelNames = command, Buckets = DocumentBuckets });
        _collectionQueries = factory.CreateCounter("proxymesh_mongo_collection_query_total", "Queries (find, legacy OP_QUERY) per collection.", collection);
        _collectionScatterGets = factory.CreateCounter("proxymesh_mongo_collection_scatter_get_total", "Queries without _id in their filter, per collection.", collection);
        _collectionMultiGets = factory.CreateCounter("proxymesh_mongo_collection_multi_get_total", "Queries whose _id is a document or array (e.g. $in), per collection.", collection);
        _collectionTime = factory.CreateHistogram("proxymesh_mongo_collection_query_reply_time_seconds", "Time from a query to its reply, per collection.", new HistogramConfiguration { LabelNames = collection, Buckets = LatencyBuckets.Seconds });
        _collectionSize = factory.CreateHistogram("proxymesh_mongo_collection_query_reply_size_bytes", "Size of query replies, per collection.", new HistogramConfiguration { LabelNames = collection, Buckets = SizeBuckets });
        _collectionDocuments = factory.CreateHistogram("proxymesh_mongo_collection_query_reply_docs", "Documents in query replies, per collection.", new HistogramConfiguration { LabelNames = collection, Buckets = DocumentBuckets });
        _callSiteQueries = factory.CreateCounter("proxymesh_mongo_callsite_query_total", "Queries per collection and call site (the query's comment, or its callingFunction in Envoy's JSON form).", callSite);
        _callSiteScatterGets = factory.CreateCounter("proxymesh_mongo_callsite_scatter_get_total", "Scatter-get queries per collection and call site.", callSite);
        _callSiteMultiGets = factory.CreateCounter("proxymesh_mongo_callsite_multi_get_total", "Multi-get queries per collection and call site.", callSite);
        _callSiteTime = factory.CreateHistogram("proxymesh_mongo_callsite_query_reply_time_seconds", "Time from a query to its reply, per collection and call site.", new HistogramConfiguration { LabelNames = callSite, Buckets = LatencyBuckets.Seconds });
        _noMaxTime = factory.CreateCounter("proxymesh_mongo_query_no_max_time_total", "Queries without maxTimeMS (Envoy's op_query_no_max_time).", listener);
        _activeQueries = factory.CreateGauge("proxymesh_mongo_query_active", "Queries waiting for their reply (Envoy's op_query_active).", listener);
        _cursorNotFound = factory.CreateCounter("proxymesh_mongo_reply_cursor_not_found_total", "Replies saying the cursor was not found (OP_REPLY flag, or error code 43).", listener);
        _queryFailures = factory.CreateCounter("proxymesh_mongo_reply_query_failure_total", "Failed replies (OP_REPLY QueryFailure flag, or ok: 0).", listener);
        _validCursors = factory.CreateCounter("proxymesh_mongo_reply_valid_cursor_total", "Replies carrying an open cursor (cursor id not 0).", listener);
        _decodingErrors = factory.CreateCounter("proxymesh_mongo_decoding_error_total", "Connections whose bytes stopped parsing as MongoDB messages; forwarded untouched, no longer sniffed.", listener);
        _tooLarge = factory.CreateCounter("proxymesh_mongo_message_too_large_total", "Connections closed for a message above the listener's Mongo:MaxMessageSize.", listener);
        _delays = factory.CreateCounter("proxymesh_mongo_delay_injected_total", "Request buffers delayed by fault injection (Envoy's delay_injected).", listener);
        _closedLocalWithActive = factory.CreateCounter("proxymesh_mongo_cx_destroy_local_with_active_rq_total", "Connections the proxy closed (upstream end, timeout, drain, filter) with requests still waiting for a reply (Envoy's cx_destroy_local_with_active_rq).", listener);
        _closedRemoteWithActive = factory.CreateCounter("proxymesh_mongo_cx_destroy_remote_with_active_rq_total", "Connections the client closed with requests still waiting for a reply (Envoy's cx_destroy_remote_with_active_rq).", listener);
        registry.AddBeforeCollectCallback(ExportConfiguredListeners);
    }

    /// <summary>Creates the series of every configured Mongo listener, so that they read 0 before its first connection.</summary>
    public void ExportConfiguredListeners()
    {
        if (_configuration is null)
        {
            return;
        }

        foreach (var listener in _configuration.GetSection("ProxyMesh:Listeners").GetChildren())
        {
            foreach (var filter in listener.GetSection("Filters").GetChildren())
            {
                if (string.Equals(filter.Value, MongoFilterFactory.FilterName, StringComparison.OrdinalIgnoreCase))
                {
                    For(listener.Key);
                }
            }
        }
    }

    public ListenerSeries For(string listener) => _series.GetOrAdd(listener, static (name, stats) => new ListenerSeries(stats, name), this);

    /// <summary>The series of one listener.</summary>
    public sealed class ListenerSeries
    {
        private static readonly string[] QueryFlagNames = ["tailable_cursor", "no_cursor_timeout", "await_data", "exhaust"];
        private static readonly string[] MsgFlagNames = ["checksum_present", "more_to_come", "exhaust_allowed"];

        private readonly MongoStats _stats;
        private readonly string _listener;
        private readonly Counter.Child[] _ops;
        private readonly Counter.Child[] _compressed;
        private readonly Counter.Child[] _compressedDecoded;
        private readonly Counter.Child[] _compressedUndecoded;
        private readonly Counter.Child[] _queryFlags;
        private readonly Counter.Child[] _msgFlags;
        private readonly CommandSeries?[] _commands = new CommandSeries?[MongoCommands.Labels.Length];
        private readonly ConcurrentDictionary<string, CollectionSeries> _collections = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, CollectionSeries>.AlternateLookup<ReadOnlySpan<char>> _collectionsByChars;
        private readonly ConcurrentDictionary<string, CallSiteSeries> _callSites = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, CallSiteSeries>.AlternateLookup<ReadOnlySpan<char>> _callSitesByChars;
        private readonly Lock _adding = new();
        private CollectionSeries? _otherCollection;

        internal ListenerSeries(MongoStats stats, string listener)
        {
            _stats = stats;
            _listener = listener;
            _collectionsByChars = _collections.GetAlternateLookup<ReadOnlySpan<char>>();
            _callSitesByChars = _callSites.GetAlternateLookup<ReadOnlySpan<char>>();
            _ops = new Counter.Child[MongoOpLabel.Names.Length];
            _compressed = new Counter.Child[MongoOpLabel.Names.Length];
            for (var i = 0; i < _ops.Length; i++)
            {
                _ops[i] = stats._ops.WithLabels(listener, MongoOpLabel.Names[i]);
                _compressed[i] = stats._compressed.WithLabels(listener, MongoOpLabel.Names[i]);
            }

            _compressedDecoded = Array.ConvertAll(MongoCompressors.Labels, compressor => stats._compressedDecoded.WithLabels(listener, compressor));
            _compressedUndecoded = Array.ConvertAll(MongoCompressors.Labels, compressor => stats._compressedUndecoded.WithLabels(listener, compressor));
            _queryFlags = Array.ConvertAll(QueryFlagNames, flag => stats._flags.WithLabels(listener, "query", flag));
            _msgFlags = Array.ConvertAll(MsgFlagNames, flag => stats._flags.WithLabels(listener, "msg", flag));
            NoMaxTime = stats._noMaxTime.WithLabels(listener);
            ActiveQueries = stats._activeQueries.WithLabels(listener);
            CursorNotFound = stats._cursorNotFound.WithLabels(listener);
            QueryFailures = stats._queryFailures.WithLabels(listener);
            ValidCursors = stats._validCursors.WithLabels(listener);
            DecodingErrors = stats._decodingErrors.WithLabels(listener);
            TooLarge = stats._tooLarge.WithLabels(listener);
            DelaysInjected = stats._delays.WithLabels(listener);
            ClosedLocallyWithActiveRequests = stats._closedLocalWithActive.WithLabels(listener);
            ClosedRemotelyWithActiveRequests = stats._closedRemoteWithActive.WithLabels(listener);
        }

        public Counter.Child NoMaxTime { get; }

        public Gauge.Child ActiveQueries { get; }

        public Counter.Child CursorNotFound { get; }

        public Counter.Child QueryFailures { get; }

        public Counter.Child ValidCursors { get; }

        public Counter.Child DecodingErrors { get; }

        public Counter.Child TooLarge { get; }

        public Counter.Child DelaysInjected { get; }

        public Counter.Child ClosedLocallyWithActiveRequests { get; }

        public Counter.Child ClosedRemotelyWithActiveRequests { get; }

        public Counter.Child Op(int opCode) => _ops[MongoOpLabel.IndexOf(opCode)];

        public Counter.Child Compressed(int originalOpCode) => _compressed[MongoOpLabel.IndexOf(originalOpCode)];

        public Counter.Child CompressedDecoded(byte compressorId) => _compressedDecoded[MongoCompressors.LabelIndex(compressorId)];

        public Counter.Child CompressedUndecoded(byte compressorId) => _compressedUndecoded[MongoCompressors.LabelIndex(compressorId)];

        /// <summary>Counts each OP_QUERY flag set in <paramref name="flags"/>.</summary>
        public void QueryFlags(int flags)
        {
            Count(flags, MongoFlags.QueryTailableCursor, _queryFlags[0]);
            Count(flags, MongoFlags.QueryNoCursorTimeout, _queryFlags[1]);
            Count(flags, MongoFlags.QueryAwaitData, _queryFlags[2]);
            Count(flags, MongoFlags.QueryExhaust, _queryFlags[3]);
        }

        /// <summary>Counts each OP_MSG flag set in <paramref name="flags"/>.</summary>
        public void MsgFlags(int flags)
        {
            Count(flags, MongoFlags.ChecksumPresent, _msgFlags[0]);
            Count(flags, MongoFlags.MoreToCome, _msgFlags[1]);
            Count(flags, MongoFlags.ExhaustAllowed, _msgFlags[2]);
        }

        public CommandSeries Command(int index) =>
            Volatile.Read(ref _commands[index]) ?? InitializeCommand(index);

        /// <summary>The series of a collection named by its UTF-8 bytes; <c>other</c> once <paramref name="max"/> collections exist.</summary>
        public CollectionSeries Collection(ReadOnlySpan<byte> utf8Name, int max)
        {
            Span<char> chars = stackalloc char[MongoFrameScanner.CollectionLimit];
            if (utf8Name.IsEmpty || !Encoding.UTF8.TryGetChars(utf8Name, chars, out var length))
            {
                return OtherCollection();
            }

            var name = chars[..length];
            if (_collectionsByChars.TryGetValue(name, out var series))
            {
                return series;
            }

            lock (_adding)
            {
                if (_collectionsByChars.TryGetValue(name, out series))
                {
                    return series;
                }

                if (_collections.Count >= max)
                {
                    return OtherCollection();
                }

                series = new CollectionSeries(_stats, _listener, new string(name));
                _collections[series.Name] = series;
                return series;
            }
        }

        /// <summary>The series of a call site of a collection; call site <c>other</c> once <paramref name="max"/> pairs exist.</summary>
        public CallSiteSeries CallSite(CollectionSeries collection, ReadOnlySpan<char> callSite, int max)
        {
            Span<char> key = stackalloc char[collection.Name.Length + 1 + callSite.Length];
            collection.Name.CopyTo(key);
            key[collection.Name.Length] = '\n';
            callSite.CopyTo(key[(collection.Name.Length + 1)..]);
            if (_callSitesByChars.TryGetValue(key, out var series))
            {
                return series;
            }

            lock (_adding)
            {
                if (_callSitesByChars.TryGetValue(key, out series))
                {
                    return series;
                }

                var label = _callSites.Count >= max ? Other : new string(callSite);
                var otherKey = collection.Name + "\n" + Other;
                if (label == Other && _callSites.TryGetValue(otherKey, out series))
                {
                    return series;
                }

                series = new CallSiteSeries(_stats, _listener, collection.Name, label);
                _callSites[label == Other ? otherKey : new string(key)] = series;
                return series;
            }
        }

        private CollectionSeries OtherCollection() =>
            Volatile.Read(ref _otherCollection) ?? Interlocked.CompareExchange(ref _otherCollection, new CollectionSeries(_stats, _listener, Other), null) ?? _otherCollection!;

        private CommandSeries InitializeCommand(int index)
        {
            var series = new CommandSeries(_stats, _listener, MongoCommands.Labels[index]);
            return Interlocked.CompareExchange(ref _commands[index], series, null) ?? series;
        }

        private static void Count(int flags, int flag, Counter.Child counter)
        {
            if ((flags & flag) != 0)
            {
                counter.Inc();
            }
        }
    }

    /// <summary>A command's count and reply histograms.</summary>
    public sealed class CommandSeries(MongoStats stats, string listener, string command)
    {
        public Counter.Child Total { get; } = stats._commands.WithLabels(listener, command);

        public Histogram.Child ReplyTime { get; } = stats._commandTime.WithLabels(listener, command);

        public Histogram.Child ReplySize { get; } = stats._commandSize.WithLabels(listener, command);

        public Histogram.Child ReplyDocuments { get; } = stats._commandDocuments.WithLabels(listener, command);
    }

    /// <summary>A collection's query counts and reply histograms.</summary>
    public sealed class CollectionSeries(MongoStats stats, string listener, string collection)
    {
        public string Name { get; } = collection;

        public Counter.Child Queries { get; } = stats._collectionQueries.WithLabels(listener, collection);

        public Counter.Child ScatterGets { get; } = stats._collectionScatterGets.WithLabels(listener, collection);

        public Counter.Child MultiGets { get; } = stats._collectionMultiGets.WithLabels(listener, collection);

        public Histogram.Child ReplyTime { get; } = stats._collectionTime.WithLabels(listener, collection);

        public Histogram.Child ReplySize { get; } = stats._collectionSize.WithLabels(listener, collection);

        public Histogram.Child ReplyDocuments { get; } = stats._collectionDocuments.WithLabels(listener, collection);
    }

    /// <summary>A call site's query counts and reply time.</summary>
    public sealed class CallSiteSeries(MongoStats stats, string listener, string collection, string callSite)
    {
        public Counter.Child Queries { get; } = stats._callSiteQueries.WithLabels(listener, collection, callSite);

        public Counter.Child ScatterGets { get; } = stats._callSiteScatterGets.WithLabels(listener, collection, callSite);

        public Counter.Child MultiGets { get; } = stats._callSiteMultiGets.WithLabels(listener, collection, callSite);

        public Histogram.Child ReplyTime { get; } = stats._callSiteTime.WithLabels(listener, collection, callSite);
    }
}
