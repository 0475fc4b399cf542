using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// The ProxyMesh executable in a process of its own, drained under steady load and stopped as a container runtime
/// stops it: <c>POST /healthcheck/fail</c>, <c>/ready</c> 503, the client (which honours readiness) stops sending,
/// SIGTERM while slow requests are still in flight, every one completes, exit code 0.
/// </summary>
public sealed class DrainToExitTests
{
    private static readonly TimeSpan SlowRequest = TimeSpan.FromMilliseconds(1500);

    [Fact]
    public async Task Drain_then_SIGTERM_under_load_loses_no_request_and_exits_0()
    {
        var slowInFlight = 0;
        var received = 0;
        await using var backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref received);
            if (context.Request.Path.StartsWithSegments("/slow"))
            {
                Interlocked.Increment(ref slowInFlight);
                try
                {
                    await Task.Delay(SlowRequest);
                }
                finally
                {
                    Interlocked.Decrement(ref slowInFlight);
                }
            }

            await context.Response.WriteAsync("done");
        }));

        var (directory, ingress, admin) = await WriteConfigAsync(backend, shutdownTimeout: null);
        await using var proxy = ProxyProcess.Start(directory, []);
        try
        {
            using var adminClient = Clients.Http1(admin);
            await Eventually.AssertAsync(async () => (await adminClient.GetAsync("/ready")).StatusCode == HttpStatusCode.OK, "the proxy is ready", TimeSpan.FromSeconds(60));

            var load = new ReadinessHonouringLoad(ingress, admin, workers: 8, () => Volatile.Read(ref received));
            await Eventually.AssertAsync(() => Task.FromResult(load.Completed >= 50 && Volatile.Read(ref slowInFlight) > 0), "load flows, slow requests in flight", TimeSpan.FromSeconds(30));

            using (var fail = await adminClient.PostAsync("/healthcheck/fail", null))
            {
                Assert.Equal(HttpStatusCode.OK, fail.StatusCode);
            }

            // The client sees /ready 503 and stops sending new requests; the ones it sent are still in flight (every one
            // has reached the upstream: none is racing SIGTERM on its way in).
            await load.DrainedAsync.WaitAsync(TimeSpan.FromSeconds(15));
            var inFlightAtSigterm = Volatile.Read(ref slowInFlight);
            var watch = Stopwatch.StartNew();
            var exitCode = await proxy.StopAsync(TimeSpan.FromSeconds(30));
            var exitedAfter = watch.Elapsed;
            var (sent, failed, failures) = await load.FinishedAsync;

            Assert.True(exitCode == 0, $"exit code {exitCode}; stderr: {proxy.StandardError}");
            Assert.True(inFlightAtSigterm > 0, "slow requests were in flight when SIGTERM came");
            Assert.True(sent >= 50, $"{sent} requests sent");
            Assert.True(failed == 0, $"{failed} of {sent} requests failed: {string.Join("; ", failures)}");
            Assert.True(exitedAfter < TimeSpan.FromSeconds(25), $"exited {exitedAfter.TotalSeconds:0.0} s after SIGTERM");
        }
        finally
        {
            DeleteDirectory(directory);
        }
    }

    [Fact]
    public async Task A_request_outlasting_the_shutdown_timeout_is_cut_off_there_and_the_process_exits_0()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            started.TrySetResult();
            await release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("done");
        }));
        var (directory, ingress, admin) = await WriteConfigAsync(backend, shutdownTimeout: "00:00:02");
        await using var proxy = ProxyProcess.Start(directory, []);
        try
        {
            using var adminClient = Clients.Http1(admin);
            await Eventually.AssertAsync(async () => (await adminClient.GetAsync("/ready")).StatusCode == HttpStatusCode.OK, "the proxy is ready", TimeSpan.FromSeconds(60));
            using var client = Clients.Http1(ingress);
            client.Timeout = TimeSpan.FromSeconds(60);
            var outlasting = client.GetAsync("/forever");
            await started.Task.WaitAsync(TimeSpan.FromSeconds(15));

            var watch = Stopwatch.StartNew();
            var exitCode = await proxy.StopAsync(TimeSpan.FromSeconds(30));
            var exitedAfter = watch.Elapsed;

            Assert.True(exitCode == 0, $"exit code {exitCode}; stderr: {proxy.StandardError}");
            Assert.True(exitedAfter < TimeSpan.FromSeconds(15), $"exited {exitedAfter.TotalSeconds:0.0} s after SIGTERM, not at the 2 s shutdown timeout");
            var failure = await Record.ExceptionAsync(() => outlasting);
            Assert.IsType<HttpRequestException>(failure); // cut off visibly, never answered as if complete
        }
        finally
        {
            release.TrySetResult();
            DeleteDirectory(directory);
        }
    }

    /// <summary>A configuration directory for the proxy process: listeners on free ports, one cluster to <paramref name="backend"/>.</summary>
    private static async Task<(string Directory, Uri Ingress, Uri Admin)> WriteConfigAsync(Backend backend, string? shutdownTimeout)
    {
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var ingress = new Uri($"http://127.0.0.1:{ProxyProcess.FreePort()}");
        var admin = new Uri($"http://127.0.0.1:{ProxyProcess.FreePort()}");
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app");
        config.Listeners["ingress"]!["Url"] = ingress.ToString().TrimEnd('/');
        config.Listeners["egress"]!["Url"] = $"http://127.0.0.1:{ProxyProcess.FreePort()}";
        config.Root["ProxyMesh"]!["Admin"]!["Url"] = admin.ToString().TrimEnd('/');
        config.Root["ProxyMesh"]!["AccessLog"] = new System.Text.Json.Nodes.JsonObject { ["Enabled"] = false };
        if (shutdownTimeout is not null)
        {
            config.Root["ProxyMesh"]!["ShutdownTimeout"] = shutdownTimeout;
        }

        await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), config.ToJson());
        return (directory, ingress, admin);
    }

    private static void DeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless.
        }
    }

    /// <summary>
    /// Clients that send requests back to back (one in three slow) while a poller finds <c>/ready</c> 200, and send no
    /// new request once it answers 503, as a load balancer honouring readiness does.
    /// </summary>
    private sealed class ReadinessHonouringLoad
    {
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<string> _failures = [];
        private readonly Func<int> _receivedUpstream;
        private volatile bool _draining;
        private int _sent;
        private int _completed;

        public ReadinessHonouringLoad(Uri ingress, Uri admin, int workers, Func<int> receivedUpstream)
        {
            _receivedUpstream = receivedUpstream;
            var poller = PollReadinessAsync(admin);
            var running = Enumerable.Range(0, workers).Select(worker => WorkAsync(ingress, worker)).ToArray();
            FinishedAsync = FinishAsync(poller, running);
        }

        public int Completed => Volatile.Read(ref _completed);

        /// <summary>
        /// Completes once the client has seen /ready 503 and every request it sent has reached the upstream: no new
        /// request is sent from then on.
        /// </summary>
        public Task DrainedAsync => _drained.Task;

        public Task<(int Sent, int Failed, IReadOnlyList<string> Failures)> FinishedAsync { get; }

        private async Task<(int, int, IReadOnlyList<string>)> FinishAsync(Task poller, Task[] running)
        {
            await poller;
            await Task.WhenAll(running);
            lock (_failures)
            {
                return (_sent, _failures.Count, [.. _failures]);
            }
        }

        private async Task PollReadinessAsync(Uri admin)
        {
            using var client = Clients.Http1(admin);
            while (true)
            {
                using var ready = await client.GetAsync("/ready");
                if (ready.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    _draining = true;
                    await Eventually.AssertAsync(
                        () => Task.FromResult(_receivedUpstream() >= Volatile.Read(ref _sent)),
                        "every request sent before the drain was seen has reached the upstream");
                    _drained.SetResult();
                    return;
                }

                await Task.Delay(20);
            }
        }

        private async Task WorkAsync(Uri ingress, int worker)
        {
            using var client = Clients.Http1(ingress);
            client.Timeout = TimeSpan.FromSeconds(30);
            for (var i = 0; ; i++)
            {
                // Counted before the readiness check, so that the poller never misses a request about to be sent.
                Interlocked.Increment(ref _sent);
                if (_draining)
                {
                    Interlocked.Decrement(ref _sent);
                    return;
                }

                var path = (i + worker) % 3 == 0 ? $"/slow/{worker}/{i}" : $"/fast/{worker}/{i}";
                try
                {
                    using var response = await client.GetAsync(path);
                    if (response.StatusCode != HttpStatusCode.OK || await response.Content.ReadAsStringAsync() != "done")
                    {
                        Fail($"{path}: {(int)response.StatusCode}");
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    Fail($"{path}: {e.GetType().Name} {e.Message}");
                }

                Interlocked.Increment(ref _completed);
            }
        }

        private void Fail(string what)
        {
            lock (_failures)
            {
                _failures.Add(what);
            }
        }
    }
}
