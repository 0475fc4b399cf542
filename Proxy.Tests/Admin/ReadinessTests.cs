using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Admin;

/// <summary>/ready follows start-up: the listeners accept before start-up completes, and /ready says so.</summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task Ready_answers_503_until_start_up_completes_then_200()
    {
        var adminPort = ProxyProcess.FreePort();
        var config = new ProxyConfig();
        config.Root["ProxyMesh"]!["Admin"]!["Url"] = $"http://127.0.0.1:{adminPort}";
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), config.ToJson());

        // A hosted service's StartedAsync runs once the listeners are up and before start-up completes; holding it
        // holds start-up in the state a slow start-up leaves it in.
        var gate = new StartUpGate();
        var app = ProxyMeshApplication.Build([], directory, services => services.AddSingleton<IHostedService>(gate));
        await using var disposeApp = app;
        var starting = app.StartAsync();
        await gate.Reached.WaitAsync(TimeSpan.FromSeconds(30));

        using var admin = Clients.Http1(new Uri($"http://127.0.0.1:{adminPort}"));
        using (var ready = await admin.GetAsync("/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Contains("PRE_INITIALIZING", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        gate.Open();
        await starting.WaitAsync(TimeSpan.FromSeconds(30));
        using (var ready = await admin.GetAsync("/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Contains("LIVE", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await app.StopAsync();
        Directory.Delete(directory, recursive: true);
    }

    private sealed class StartUpGate : IHostedLifecycleService
    {
        private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Reached => _reached.Task;

        public void Open() => _open.SetResult();

        public Task StartedAsync(CancellationToken cancellationToken)
        {
            _reached.SetResult();
            return _open.Task;
        }

        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
