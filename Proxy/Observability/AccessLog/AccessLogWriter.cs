using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>Writes queued entries as JSON lines to standard output or a file, off the request path.</summary>
internal sealed class AccessLogWriter(AccessLogQueue queue, IOptions<AccessLogOptions> options) : BackgroundService
{
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A batch is written once it reaches this size: one write per batch keeps each line whole on stdout.</summary>
    private const int BatchBytes = 32 * 1024;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = options.Value.Path;
        await using var output = path.Length == 0
            ? Console.OpenStandardOutput()
            : new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        var batch = new ArrayBufferWriter<byte>(BatchBytes + 4096);
        await using var json = new Utf8JsonWriter(batch, JsonOptions);
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                await DrainAsync(json, batch, output, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: write what is already queued, then end.
            await DrainAsync(json, batch, output, CancellationToken.None);
        }
    }

    /// <summary>Formats the queued entries as UTF-8 JSON lines into a batch and writes each batch with one call.</summary>
    private async Task DrainAsync(Utf8JsonWriter json, ArrayBufferWriter<byte> batch, Stream output, CancellationToken cancellationToken)
    {
        while (queue.Reader.TryRead(out var entry))
        {
            if (entry is AccessLogEntry http)
            {
                Write(json, http);
            }
            else
            {
                Write(json, (TcpAccessLogEntry)entry);
            }

            json.Flush();
            json.Reset();
            batch.GetSpan(1)[0] = (byte)'\n';
            batch.Advance(1);
            if (batch.WrittenCount >= BatchBytes)
            {
                await WriteBatchAsync(batch, output, cancellationToken);
            }
        }

        await WriteBatchAsync(batch, output, cancellationToken);
    }

    private static async ValueTask WriteBatchAsync(ArrayBufferWriter<byte> batch, Stream output, CancellationToken cancellationToken)
    {
        if (batch.WrittenCount == 0)
        {
            return;
        }

        await output.WriteAsync(batch.WrittenMemory, cancellationToken);
        await output.FlushAsync(cancellationToken);
        batch.ResetWrittenCount();
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
        queue.Complete();
        await base.StopAsync(cancellationToken);
    }
}
