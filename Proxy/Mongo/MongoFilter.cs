using System.Buffers;
using System.Globalization;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Tcp;

namespace ProxyMesh.Proxy.Mongo;

/// <summary>
/// Envoy's mongo_proxy for one connection, reading OP_MSG as well: counts every message, matches replies to their
/// requests by <c>responseTo</c> and records per-command, per-collection and per-call-site stats. It never changes
/// the bytes. Bytes that are not MongoDB are forwarded untouched, counted once as a decoding error, and no longer
/// read; a message announcing more than <c>MaxMessageSize</c> closes the connection.
/// </summary>
internal sealed partial class MongoFilter : ITcpFilter, IMongoMessageSink
{
    /// <summary>Requests waiting for a reply that one connection tracks; beyond it new ones go untimed.</summary>
    internal const int MaxPendingRequests = 1024;

    private const int CursorNotFoundCode = 43;

    private readonly MongoFilterFactory.Shared _shared;
    private readonly MongoStats.ListenerSeries _stats;
    private readonly MongoFilterOptions _options;
    private readonly TcpFilterContext _context;
    private readonly MongoFrameScanner _requests;
    private readonly MongoFrameScanner _replies;
    private readonly Dictionary<int, PendingRequest> _pending = [];
    private readonly Lock _pendingLock = new();
    private volatile bool _sniffing = true;
    private int _requestsInBuffer;
    private bool _disposed;

    public MongoFilter(MongoFilterFactory.Shared shared, MongoFilterOptions options, TcpFilterContext context)
    {
        _shared = shared;
        _options = options;
        _context = context;
        _stats = shared.Stats.For(context.ListenerName);
        var maxDecompressedSize = options.Decompress ? Math.Min(options.MaxDecompressedSize, options.MaxMessageSize) : 0;
        _requests = new MongoFrameScanner(this, fromServer: false, options.MaxMessageSize, maxDecompressedSize);
        _replies = new MongoFrameScanner(this, fromServer: true, options.MaxMessageSize, maxDecompressedSize);
    }

    public ValueTask<TcpFilterVerdict> OnDownstreamDataAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken)
    {
        if (!_sniffing)
        {
            return ValueTask.FromResult(TcpFilterVerdict.Continue);
        }

        _requestsInBuffer = 0;
        if (Verdict(_requests.Scan(data), _requests) == TcpFilterVerdict.Close)
        {
            return ValueTask.FromResult(TcpFilterVerdict.Close);
        }

        var delay = _options.Delay;
        if (_requestsInBuffer > 0 && delay.Percent > 0 && _shared.Random.NextDouble() * 100 < delay.Percent)
        {
            return DelayAsync(delay.Duration, cancellationToken);
        }

        return ValueTask.FromResult(TcpFilterVerdict.Continue);
    }

    public TcpFilterVerdict OnUpstreamData(ReadOnlySequence<byte> data) =>
        _sniffing ? Verdict(_replies.Scan(data), _replies) : TcpFilterVerdict.Continue;

    /// <summary>Envoy's <c>cx_destroy_local_with_active_rq</c> / <c>cx_destroy_remote_with_active_rq</c>.</summary>
    public void OnClosed(TcpCloseInitiator initiator)
    {
        lock (_pendingLock)
        {
            if (!_disposed && _pending.Count > 0)
            {
                (initiator == TcpCloseInitiator.Remote ? _stats.ClosedRemotelyWithActiveRequests : _stats.ClosedLocallyWithActiveRequests).Inc();
            }
        }
    }

    public void Dispose()
    {
        lock (_pendingLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            ForgetPending();
        }
    }

    void IMongoMessageSink.OnMessage(MongoFrameScanner message)
    {
        if (message.FromServer)
        {
            OnReply(message);
        }
        else
        {
            OnRequest(message);
        }
    }

    private async ValueTask<TcpFilterVerdict> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        _stats.DelaysInjected.Inc();
        await Task.Delay(delay, _shared.Time, cancellationToken);
        return TcpFilterVerdict.Continue;
    }

    private TcpFilterVerdict Verdict(ScanResult result, MongoFrameScanner scanner)
    {
        switch (result)
        {
            case ScanResult.TooLarge:
                _stats.TooLarge.Inc();
                LogTooLarge(_shared.Logger, _context.ListenerName, _context.ConnectionId, scanner.Length, _options.MaxMessageSize);
                StopSniffing();
                return TcpFilterVerdict.Close;
            case ScanResult.DecodingError:
                _stats.DecodingErrors.Inc();
                var direction = scanner.FromServer ? "upstream" : "downstream";
                if (scanner.ChecksumMismatch)
                {
                    LogChecksumMismatch(_shared.Logger, _context.ListenerName, _context.ConnectionId, direction);
                }
                else
                {
                    LogDecodingError(_shared.Logger, _context.ListenerName, _context.ConnectionId, direction);
                }

                StopSniffing();
                return TcpFilterVerdict.Continue;
            default:
                return TcpFilterVerdict.Continue;
        }
    }

    private void StopSniffing()
    {
        _sniffing = false;
        lock (_pendingLock)
        {
            ForgetPending();
        }
    }

    private void ForgetPending()
    {
        foreach (var pending in _pending.Values)
        {
            if (pending.Collection is not null)
            {
                _stats.ActiveQueries.Dec();
            }
        }

        _pending.Clear();
    }

    private void CountCompressed(MongoFrameScanner message)
    {
        _stats.Compressed(message.OriginalOpCode).Inc();
        (message.Decoded ? _stats.CompressedDecoded(message.CompressorId) : _stats.CompressedUndecoded(message.CompressorId)).Inc();
    }

    private void OnRequest(MongoFrameScanner request)
    {
        // A decompressed message was counted as the OP_COMPRESSED that carried it.
        if (!request.IsDecompressed)
        {
            _requestsInBuffer++;
            _stats.Op(request.OpCode).Inc();
        }

        bool expectsReply;
        switch (request.OpCode)
        {
            case MongoOpCode.Msg:
                _stats.MsgFlags(request.Flags);
                expectsReply = (request.Flags & MongoFlags.MoreToCome) == 0;
                break;
            case MongoOpCode.Query:
                _stats.QueryFlags(request.Flags);
                expectsReply = true;
                break;
            case MongoOpCode.Compressed:
                CountCompressed(request);
                return;
            default:
                return;
        }

        MongoStats.CommandSeries? command = null;
        if (request.IsCommand)
        {
            command = _stats.Command(request.Command);
            command.Total.Inc();
        }

        MongoStats.CollectionSeries? collection = null;
        MongoStats.CallSiteSeries? callSite = null;
        if (request.IsQuery)
        {
            collection = request.HasCollection ? _stats.Collection(request.Collection, _options.MaxCollections) : _stats.Collection(default, 0);
            collection.Queries.Inc();
            if (request.HasComment)
            {
                Span<char> chars = stackalloc char[MongoCallSite.MaxLength];
                var length = MongoCallSite.Read(request.Comment, chars);
                callSite = _stats.CallSite(collection, length < 0 ? MongoStats.Other.AsSpan() : chars[..length], _options.MaxCallSites);
                callSite.Queries.Inc();
            }

            if (request.IdShape == IdShape.Absent)
            {
                collection.ScatterGets.Inc();
                callSite?.ScatterGets.Inc();
            }
            else if (request.IdShape == IdShape.Multi)
            {
                collection.MultiGets.Inc();
                callSite?.MultiGets.Inc();
            }

            if (!request.HasMaxTime)
            {
                _stats.NoMaxTime.Inc();
            }
        }

        if (!expectsReply || (command is null && collection is null))
        {
            return;
        }

        var entry = new PendingRequest(command, collection, callSite, _shared.Time.GetTimestamp(), request.Length, request.IsCommand ? request.Command : -1);
        lock (_pendingLock)
        {
            if (_disposed || _pending.Count >= MaxPendingRequests || !_pending.TryAdd(request.RequestId, entry))
            {
                return;
            }
        }

        if (collection is not null)
        {
            _stats.ActiveQueries.Inc();
        }
    }

    private void OnReply(MongoFrameScanner reply)
    {
        if (!reply.IsDecompressed)
        {
            _stats.Op(reply.OpCode).Inc();
        }

        if (reply.OpCode == MongoOpCode.Compressed)
        {
            CountCompressed(reply);
            return;
        }

        if (reply.OpCode is not (MongoOpCode.Msg or MongoOpCode.Reply))
        {
            return;
        }

        var moreToCome = reply.OpCode == MongoOpCode.Msg && (reply.Flags & MongoFlags.MoreToCome) != 0;
        PendingRequest request;
        bool matched;
        lock (_pendingLock)
        {
            matched = _pending.Remove(reply.ResponseTo, out request);

            // Exhaust: the next reply answers this one, and the request stays active until the last.
            if (matched && moreToCome && !_pending.TryAdd(reply.RequestId, request))
            {
                moreToCome = false;
            }
        }

        if (reply.OpCode == MongoOpCode.Msg)
        {
            _stats.MsgFlags(reply.Flags);
        }

        var legacy = reply.OpCode == MongoOpCode.Reply;
        var fromCommand = !legacy || (matched && request.Command is not null);
        var failed = (legacy && (reply.Flags & MongoFlags.ReplyQueryFailure) != 0) || (fromCommand && reply.HasOk && reply.Ok == 0);
        if (failed)
        {
            _stats.QueryFailures.Inc();
        }

        if ((legacy && (reply.Flags & MongoFlags.ReplyCursorNotFound) != 0) || (fromCommand && reply.Code == CursorNotFoundCode))
        {
            _stats.CursorNotFound.Inc();
        }

        if (reply.HasCursor && reply.CursorId != 0)
        {
            _stats.ValidCursors.Inc();
        }

        if (!matched)
        {
            return;
        }

        var elapsed = _shared.Time.GetElapsedTime(request.StartTimestamp);
        var seconds = elapsed.TotalSeconds;
        var documents = reply.Documents;
        if (request.Command is { } command)
        {
            command.ReplyTime.Observe(seconds);
            command.ReplySize.Observe(reply.Length);
            command.ReplyDocuments.Observe(documents);
        }

        if (request.Collection is { } collection)
        {
            collection.ReplyTime.Observe(seconds);
            collection.ReplySize.Observe(reply.Length);
            collection.ReplyDocuments.Observe(documents);
            request.CallSite?.ReplyTime.Observe(seconds);
            if (!moreToCome)
            {
                _stats.ActiveQueries.Dec();
            }
        }

        if (_options.AccessLog && _shared.AccessLogEnabled)
        {
            _shared.AccessLog.Enqueue(new AccessLogEntry(
                _shared.Time.GetUtcNow() - elapsed,
                request.CommandIndex >= 0 ? MongoCommands.Labels[request.CommandIndex] : "query",
                request.Collection?.Name ?? "",
                "mongo",
                failed ? (reply.Code != 0 ? reply.Code : 1) : 0,
                ResponseFlags.None,
                request.Length,
                reply.Length,
                elapsed.TotalMilliseconds,
                null,
                null,
                null,
                null,
                reply.ResponseTo.ToString(CultureInfo.InvariantCulture),
                "",
                _context.ListenerName,
                null,
                null));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Mongo listener {Listener}: closing connection {ConnectionId}: a message of {Length} bytes is above MaxMessageSize {MaxMessageSize}")]
    private static partial void LogTooLarge(ILogger logger, string listener, string connectionId, int length, int maxMessageSize);

    [LoggerMessage(Level = LogLevel.Information, Message = "Mongo listener {Listener}: connection {ConnectionId} sent an {Direction} OP_MSG whose CRC-32C checksum does not match; forwarding it and what follows unread")]
    private static partial void LogChecksumMismatch(ILogger logger, string listener, string connectionId, string direction);

    [LoggerMessage(Level = LogLevel.Information, Message = "Mongo listener {Listener}: connection {ConnectionId} sent {Direction} bytes that are not MongoDB messages; forwarding them unread from now on")]
    private static partial void LogDecodingError(ILogger logger, string listener, string connectionId, string direction);

    /// <summary>A request waiting for its reply: what its reply is recorded against.</summary>
    private readonly record struct PendingRequest(
        MongoStats.CommandSeries? Command,
        MongoStats.CollectionSeries? Collection,
        MongoStats.CallSiteSeries? CallSite,
        long StartTimestamp,
        int Length,
        int CommandIndex);
}
