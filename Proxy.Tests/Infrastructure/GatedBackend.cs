using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A real upstream that holds every request to a path ending in <c>/hold</c> open until the test opens the gate, and answers anything
/// else at once; it counts the held requests it has seen.
/// </summary>
public sealed class GatedBackend : IAsyncDisposable
{
    private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _held;

    private GatedBackend(Backend backend) => Backend = backend;

    public Backend Backend { get; }

    public string Address => Backend.Address;

    /// <summary>Requests to <c>/hold</c> that reached the upstream.</summary>
    public int Held => Volatile.Read(ref _held);

    public static async Task<GatedBackend> StartAsync()
    {
        GatedBackend? gated = null;
        var backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            if (context.Request.Path.Value!.EndsWith("/hold", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref gated!._held);
                await gated._gate.Task.WaitAsync(context.RequestAborted);
            }

            await context.Response.WriteAsync("ok");
        }));
        gated = new GatedBackend(backend);
        return gated;
    }

    /// <summary>Waits until <paramref name="count"/> held requests have reached the upstream.</summary>
    public Task WaitForHeldAsync(int count) =>
        Eventually.AssertAsync(() => Task.FromResult(Held >= count), $"{count} requests are held at the upstream");

    public void Open() => _gate.TrySetResult();

    public async ValueTask DisposeAsync()
    {
        Open();
        await Backend.DisposeAsync();
    }
}
