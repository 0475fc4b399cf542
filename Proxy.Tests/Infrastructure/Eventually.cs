namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Polls a condition until it holds or a deadline passes: synchronisation without fixed sleeps.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

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
