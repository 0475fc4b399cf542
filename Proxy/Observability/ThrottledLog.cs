using System.Collections.Concurrent;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Decides whether a recurring problem is logged now: once per cause and interval, so that a fault repeating every
/// request or every loop turn leaves one line per minute, not one per occurrence. Causes are names chosen by the
/// code (a loop, an exception type, a cluster and an outcome), never client input, so the set of keys stays small.
/// </summary>
/// <typeparam name="TCause">The cause's key: a name, or a value tuple where building a name would cost a string per occurrence.</typeparam>
public sealed class ThrottledLog<TCause>(TimeProvider time)
    where TCause : notnull
{
    private readonly ConcurrentDictionary<TCause, long> _lastLogged = new();

    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(1);

    /// <returns>True when <paramref name="cause"/> was not logged within the interval (and records that it is now).</returns>
    public bool ShouldLog(TCause cause)
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
