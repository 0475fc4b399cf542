namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Polls a condition until it holds or a deadline passes: synchronisation without fixed sleeps.</summary>
public static class Eventually
{
    /// <summary>
    /// Generous: a passing condition returns as soon as it holds, and on a 2-core machine running the whole suite a
    /// separately started ProxyMesh process was seen to need more than 15 s to serve.
    /// </summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static async Task<bool> TrueAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // Not reachable yet: keep polling.
            }

            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(25);
        }
    }

    public static async Task AssertAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) =>
        Assert.True(await TrueAsync(condition, timeout), $"Timed out waiting until {what}");
}
