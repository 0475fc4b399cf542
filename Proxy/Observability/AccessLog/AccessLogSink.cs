namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>Where access log lines go: each call hands over whole lines, written with one write.</summary>
internal interface IAccessLogSink : IDisposable
{
    /// <exception cref="IOException">The lines could not be written (they are lost; the caller counts them).</exception>
    void Write(ReadOnlySpan<byte> lines);
}

/// <summary>
/// Standard output, shared with the console logger. Console.Out is a synchronized writer (it locks itself for each
/// write), and the console logger writes each message with one call to it; writing our bytes under the same lock
/// keeps its lines and ours whole, where two unlocked writers would interleave within a line.
/// </summary>
internal sealed class StandardOutputSink : IAccessLogSink
{
    private readonly Stream _stdout = Console.OpenStandardOutput();

    public void Write(ReadOnlySpan<byte> lines)
    {
        var console = Console.Out;
#pragma warning disable CA2002 // Locking Console.Out is the point: it is the lock the console logger's writes take.
        lock (console)
#pragma warning restore CA2002
        {
            _stdout.Write(lines);
        }
    }

    public void Dispose() => _stdout.Dispose();
}

/// <summary>
/// A file appended to, unbuffered (a failed write loses only its own lines, and nothing stale is retried). The file
/// is reopened after a failed write, and when it is no longer at its path (deleted, or moved away by log rotation),
/// looked at no more than once per <see cref="RecheckInterval"/>.
/// </summary>
internal sealed class FileSink(string path, TimeProvider time) : IAccessLogSink
{
    internal static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    private FileStream? _file;
    private long _checkedAt;

    public void Write(ReadOnlySpan<byte> lines)
    {
        try
        {
            Current().Write(lines);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Close();
            throw e as IOException ?? new IOException(e.Message, e);
        }
    }

    private FileStream Current()
    {
        var now = time.GetTimestamp();
        if (_file is not null && time.GetElapsedTime(_checkedAt, now) >= RecheckInterval)
        {
            _checkedAt = now;
            if (!File.Exists(path))
            {
                Close();
            }
        }

        if (_file is null)
        {
            _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            _checkedAt = now;
        }

        return _file;
    }

    private void Close()
    {
        _file?.Dispose();
        _file = null;
    }

    public void Dispose() => Close();
}
