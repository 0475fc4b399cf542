namespace ProxyMesh.Demo;

/// <summary>A little steady traffic: <c>users</c> asks <c>locations</c> twice a second through its egress sidecar.</summary>
internal sealed class SteadyTraffic(DemoInstance from) : IAsyncDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(500);

    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public void Start() => _loop = RunAsync(_stop.Token);

    private async Task RunAsync(CancellationToken stop)
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{from.EgressPort}"), Timeout = TimeSpan.FromSeconds(10) };
        using var timer = new PeriodicTimer(Period);
        var id = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                _ = SendAsync(client, ++id, stop); // Not awaited: a slow answer must not slow the pace.
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task SendAsync(HttpClient client, int id, CancellationToken stop)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/locations/{id}") { Headers = { Host = "locations" } };
            using var response = await client.SendAsync(request, stop);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // The sidecar's stats and access log record what happened; the demo's console stays quiet.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
