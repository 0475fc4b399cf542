using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A fake clock that also tells how many timers were set for a given due time, so that a test advances it only once
/// the code under test is actually waiting (advancing earlier would leave that wait in the future).
/// </summary>
public sealed class WatchedTimeProvider() : FakeTimeProvider(DateTimeOffset.UtcNow)
{
    private readonly ConcurrentDictionary<TimeSpan, int> _timers = new();

    public int TimersDue(TimeSpan dueTime) => _timers.GetValueOrDefault(dueTime);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        _timers.AddOrUpdate(dueTime, 1, (_, count) => count + 1);
        return base.CreateTimer(callback, state, dueTime, period);
    }
}
