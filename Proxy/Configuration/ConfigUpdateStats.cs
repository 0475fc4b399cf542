namespace ProxyMesh.Proxy.Configuration;

/// <summary>
/// Counts and logs configuration updates after start-up, like Envoy's <c>update_attempt</c> / <c>update_success</c> /
/// <c>update_rejected</c>. The file sources and the validation gate report here; they exist before the container
/// and its logging, so the logger is attached once the application is built.
/// </summary>
public sealed partial class ConfigUpdateStats
{
    private long _attempts;
    private long _successes;
    private long _rejections;
    private ILogger? _logger;

    public long Attempts => Interlocked.Read(ref _attempts);

    public long Successes => Interlocked.Read(ref _successes);

    public long Rejections => Interlocked.Read(ref _rejections);

    internal void AttachLogger(ILogger logger) => _logger = logger;

    public void RecordSuccess()
    {
        Interlocked.Increment(ref _attempts);
        Interlocked.Increment(ref _successes);
        if (_logger is not null)
        {
            LogReloaded(_logger);
        }
    }

    /// <summary>Counts a rejected update and logs it once, with every problem found.</summary>
    public void RecordRejection(IReadOnlyList<string> problems)
    {
        Interlocked.Increment(ref _attempts);
        Interlocked.Increment(ref _rejections);
        var reason = string.Join("; ", problems);
        if (_logger is null)
        {
            Console.Error.WriteLine($"Configuration reload rejected, the last good configuration keeps serving: {reason}");
        }
        else
        {
            LogRejected(_logger, reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Configuration reloaded")]
    private static partial void LogReloaded(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Configuration reload rejected, the last good configuration keeps serving: {Reason}")]
    private static partial void LogRejected(ILogger logger, string reason);
}
