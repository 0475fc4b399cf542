using System.Collections.Concurrent;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Decides whether a recurring problem is logged now: once per cause and interval, so that a fault repeating every
/// request or every loop turn leaves one line per minute, not one per occurrence. Causes are names chosen by the
/// code (a loop, an exception type), never client input, so the set of keys stays small.
/// </summary>
public sealed class ThrottledLog(TimeProvider time)
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, long> _lastLogged = new(StringComparer.Ordinal);

    public TimeSpan Interval { get; init; } = DefaultInterval;

    /// <returns>True when <paramref name="cause"/> was not logged within the interval (and records that it is now).</returns>
    public bool ShouldLog(string cause)
    {
        var now = time.GetTimestamp();
        while (true)
        {
            if (!_lastLogged.TryGetValue(cause, out var last))
            {
                if (_lastLogged.TryAdd(cause, now))
                {
                    return true;
                }

                continue;
            }

            if (time.GetElapsedTime(last, now) < Interval)
            {
                return false;
            }

            if (_lastLogged.TryUpdate(cause, now, last))
            {
                return true;
            }
        }
    }
}
