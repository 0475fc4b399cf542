using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Prometheus;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// Writes queued entries as JSON lines to standard output or a file, off the request path. Lines are batched as UTF-8
/// and each batch goes out in one write of whole lines. A sink that fails (disk full, directory deleted) costs the
/// lines of that batch, counted in <c>proxymesh_access_log_lines_lost_total</c> and logged once a minute; never a
/// request, and never the process.
/// </summary>
internal sealed partial class AccessLogWriter : BackgroundService
{
    private const int BatchBytes = 64 * 1024;
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly AccessLogQueue _queue;
    private readonly IAccessLogSink _sink;
    private readonly ThrottledLog<string> _throttle;
    private readonly ILogger<AccessLogWriter> _logger;
    private readonly Counter _lost;
    private readonly ArrayBufferWriter<byte> _batch = new(BatchBytes + 4096);

    public AccessLogWriter(AccessLogQueue queue, IAccessLogSink sink, CollectorRegistry registry, TimeProvider time, ILogger<AccessLogWriter> logger)
    {
        _queue = queue;
        _sink = sink;
        _throttle = new ThrottledLog<string>(time);
        _logger = logger;
        _lost = Metrics.WithCustomRegistry(registry)
            .CreateCounter("proxymesh_access_log_lines_lost_total", "Access log lines lost because the log file or standard output could not be written.");
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Stopping completes the queue (StopAsync): what is already queued is written, then the loop ends.
        using var json = new Utf8JsonWriter(_batch, JsonOptions);
        while (await _queue.WaitToReadAsync())
        {
            Drain(json);
        }
    }

    private void Drain(Utf8JsonWriter json)
    {
        var lines = 0;
        while (_queue.TryRead(out var entry))
        {
            if (entry is AccessLogEntry http)
            {
                Write(json, http);
                _queue.Return(http);
            }
            else
            {
                Write(json, (TcpAccessLogEntry)entry);
            }

            json.Flush();
            json.Reset();
            _batch.Write("\n"u8);
            lines++;
            if (_batch.WrittenCount >= BatchBytes)
            {
                Emit(lines);
                lines = 0;
            }
        }

        if (lines > 0)
        {
            Emit(lines);
        }
    }

    private void Emit(int lines)
    {
        try
        {
            _sink.Write(_batch.WrittenSpan);
        }
        catch (IOException e)
        {
            _lost.Inc(lines);
            if (_throttle.ShouldLog(e.GetType().Name))
            {
                LogSinkFailed(_logger, lines, e.Message);
            }
        }
        finally
        {
            _batch.ResetWrittenCount();
        }
    }

    internal static void Write(Utf8JsonWriter json, AccessLogEntry entry)
    {
        json.WriteStartObject();
        WriteStartTime(json, entry.StartTime);
        json.WriteString("method", entry.Method);
        json.WriteString("path", entry.Path);
        json.WriteString("protocol", entry.Protocol);
        json.WriteNumber("response_code", entry.ResponseCode);
        json.WriteString("response_flags", entry.ResponseFlags);
        json.WriteNumber("bytes_received", entry.BytesReceived);
        json.WriteNumber("bytes_sent", entry.BytesSent);
        json.WriteNumber("duration_ms", Math.Round(entry.DurationMilliseconds, 3));
        if (entry.UpstreamServiceTimeMilliseconds is { } upstream)
        {
            json.WriteNumber("upstream_service_time_ms", Math.Round(upstream, 3));
        }
        else
        {
            json.WriteNull("upstream_service_time_ms");
        }

        json.WriteString("upstream_host", entry.UpstreamHost);
        json.WriteString("x_forwarded_for", entry.ForwardedFor);
        json.WriteString("user_agent", entry.UserAgent);
        json.WriteString("request_id", entry.RequestId);
        json.WriteString("authority", entry.Authority);
        json.WriteString("listener", entry.Listener);
        json.WriteString("route", entry.Route);
        json.WriteString("cluster", entry.Cluster);
        json.WriteEndObject();
    }

    /// <summary>Millisecond UTC ISO 8601, formatted on the stack.</summary>
    private static void WriteStartTime(Utf8JsonWriter json, DateTimeOffset startTime)
    {
        Span<char> text = stackalloc char[32];
        startTime.UtcDateTime.TryFormat(text, out var length, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        json.WriteString("start_time", text[..length]);
    }

    /// <summary>A TCP connection's line: no method, path or status; <c>protocol</c> is <c>TCP</c>.</summary>
    internal static void Write(Utf8JsonWriter json, TcpAccessLogEntry entry)
    {
        json.WriteStartObject();
        WriteStartTime(json, entry.StartTime);
        json.WriteString("protocol", "TCP");
        json.WriteString("response_flags", entry.ResponseFlags);
        json.WriteString("termination_details", entry.TerminationDetails);
        json.WriteNumber("bytes_received", entry.BytesReceived);
        json.WriteNumber("bytes_sent", entry.BytesSent);
        json.WriteNumber("duration_ms", Math.Round(entry.DurationMilliseconds, 3));
        json.WriteString("upstream_host", entry.UpstreamHost);
        json.WriteString("downstream_remote_address", entry.DownstreamRemoteAddress);
        json.WriteString("peer_identity", entry.Peer);
        json.WriteString("listener", entry.Listener);
        json.WriteString("cluster", entry.Cluster);
        json.WriteEndObject();
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Complete();
        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        base.Dispose();
        _sink.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Access log: {Lines} lines lost, the sink cannot be written: {Problem} (logged at most once a minute; see proxymesh_access_log_lines_lost_total)")]
    private static partial void LogSinkFailed(ILogger logger, int lines, string problem);
}
