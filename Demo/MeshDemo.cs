extern alias discovery;

using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using DiscoveryApplication = discovery::ProxyMesh.Discovery.DiscoveryApplication;

namespace ProxyMesh.Demo;

/// <summary>
/// <c>dotnet run --project Demo</c>: a local mesh on 127.0.0.1 — the discovery service on its embedded store, two demo
/// services in two zones each beside its own ProxyMesh sidecar, and steady traffic between them — until Ctrl+C.
/// </summary>
internal static class MeshDemo
{
    private static readonly TimeSpan MeshFormingDeadline = TimeSpan.FromSeconds(60);

    public static async Task<int> RunAsync(string[] args)
    {
        DemoOptions options;
        try
        {
            options = DemoOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"ProxyMesh demo: {e.Message}");
            return 2;
        }

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true; // Stop here, in order, rather than let the runtime end the process.
            stop.Cancel();
        }

        var layout = new DemoLayout(options);
        var started = new Stack<WebApplication>();
        try
        {
            foreach (var app in Build(layout, options.Directory))
            {
                await app.StartAsync(stop.Token);
                started.Push(app);
            }

            await using var traffic = new SteadyTraffic(layout.Users);
            if (!await MeshFormedAsync(layout, stop.Token))
            {
                Console.Error.WriteLine($"ProxyMesh demo: the users sidecar did not see both locations instances within {MeshFormingDeadline.TotalSeconds:0} s");
                return 1;
            }

            traffic.Start();
            Console.Out.Write(Banner(layout, options.Directory));
            await Task.Delay(Timeout.Infinite, stop.Token);
            return 0;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Out.WriteLine("ProxyMesh demo: stopping");
            return 0;
        }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            Console.Error.WriteLine($"ProxyMesh demo: cannot listen: {e.Message}; pick other ports with --base-port N");
            return 1;
        }
        catch (Proxy.Configuration.InvalidConfigurationException e)
        {
            Console.Error.WriteLine($"ProxyMesh demo: invalid configuration: {string.Join("; ", e.Problems)}");
            return 1;
        }
        catch (discovery::ProxyMesh.Proxy.Configuration.InvalidConfigurationException e)
        {
            Console.Error.WriteLine($"ProxyMesh demo: invalid discovery configuration: {string.Join("; ", e.Problems)}");
            return 1;
        }
        finally
        {
            // Sidecars first (each deregisters from discovery as it drains), then the applications, discovery last.
            while (started.TryPop(out var app))
            {
                await app.StopAsync(CancellationToken.None);
                await app.DisposeAsync();
            }

            Console.Out.WriteLine("ProxyMesh demo: stopped");
        }
    }

    /// <summary>Discovery, then each application and its sidecar, in start order.</summary>
    private static IEnumerable<WebApplication> Build(DemoLayout layout, string directory)
    {
        Directory.CreateDirectory(directory);
        var discoveryRoot = Directory.CreateDirectory(Path.Combine(directory, "discovery")).FullName;
        File.Delete(Path.Combine(discoveryRoot, "registrations.json")); // every run starts with an empty registry
        yield return DiscoveryApplication.Build(
            [
                $"--Discovery:Url={layout.DiscoveryUrl}",
                "--Discovery:Embedded:Path=registrations.json",
                "--Discovery:CacheTtl=00:00:01",
                "--Logging:LogLevel:Default=Warning",
            ],
            discoveryRoot,
            HostedByDemo);

        foreach (var instance in layout.Instances)
        {
            yield return DemoService.Build(instance, HostedByDemo);

            var sidecarRoot = Directory.CreateDirectory(Path.Combine(directory, instance.Name)).FullName;
            var config = layout.SidecarConfig(instance, Path.Combine(sidecarRoot, "access.log"));
            File.WriteAllText(Path.Combine(sidecarRoot, "appsettings.json"), config.ToJsonString(new() { WriteIndented = true }));
            yield return Proxy.ProxyMeshApplication.Build([], sidecarRoot, HostedByDemo);
        }
    }

    /// <summary>Every part runs in this process: the demo, not each host, answers Ctrl+C, and stops them in order.</summary>
    private static void HostedByDemo(IServiceCollection services) => services.AddSingleton<IHostLifetime, DemoHostLifetime>();

    /// <summary>Waits until users' sidecar has both locations instances from discovery (the first polls may come early).</summary>
    private static async Task<bool> MeshFormedAsync(DemoLayout layout, CancellationToken stop)
    {
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{layout.Users.AdminPort}"), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + MeshFormingDeadline;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var clusters = JsonNode.Parse(await admin.GetStringAsync("/clusters?format=json", stop));
                foreach (var cluster in clusters?["cluster_statuses"]?.AsArray() ?? [])
                {
                    if ((string?)cluster?["name"] == "locations" && cluster["host_statuses"]?.AsArray().Count == 2)
                    {
                        return true;
                    }
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), stop);
        }

        return false;
    }

    private static string Banner(DemoLayout layout, string directory)
    {
        var users = layout.Users;
        var failing = layout.LocationsB;
        var text = new StringBuilder();
        text.AppendLine("ProxyMesh demo: a local mesh on 127.0.0.1. Ctrl+C stops it.");
        text.AppendLine();
        text.AppendLine($"  discovery                          http://127.0.0.1:{layout.DiscoveryPort}  (embedded store)");
        foreach (var instance in layout.Instances)
        {
            text.AppendLine($"  {instance.Name,-12} {instance.Zone}  app :{instance.AppPort}  sidecar: ingress :{instance.IngressPort}  egress :{instance.EgressPort}  admin :{instance.AdminPort}");
        }

        text.AppendLine();
        text.AppendLine($"users calls locations twice a second through its egress sidecar (zone-aware: zone-a is preferred).");
        text.AppendLine($"Sidecar configuration and access logs: {directory}");
        text.AppendLine();
        text.AppendLine("Try:");
        text.AppendLine("  # a call from users through its egress sidecar to locations (Host picks the service)");
        text.AppendLine($"  curl -fsS -H 'Host: locations' http://127.0.0.1:{users.EgressPort}/locations/7");
        text.AppendLine("  # the same call made by the users application itself, in through its ingress sidecar");
        text.AppendLine($"  curl -fsS http://127.0.0.1:{users.IngressPort}/users/7");
        text.AppendLine("  # users' sidecar: clusters and hosts as discovery fed them, Envoy-style stats, Prometheus metrics");
        text.AppendLine($"  curl -fsS http://127.0.0.1:{users.AdminPort}/clusters");
        text.AppendLine($"  curl -fsS http://127.0.0.1:{users.AdminPort}/stats | grep '^cluster.locations.'");
        text.AppendLine($"  curl -fsS http://127.0.0.1:{users.AdminPort}/metrics | grep '^proxymesh_upstream_rq_total'");
        text.AppendLine($"  # make {failing.Name} ({failing.Zone}) fail (or: slow), then watch retries, ejection and stats move");
        text.AppendLine($"  curl -fsS -X POST http://127.0.0.1:{failing.AppPort}/fault/fail");
        text.AppendLine($"  curl -fsS http://127.0.0.1:{users.AdminPort}/stats | grep -E 'retry|outlier_detection|upstream_rq_5xx'");
        text.AppendLine($"  curl -fsS http://127.0.0.1:{users.AdminPort}/clusters | grep health_flags");
        text.AppendLine($"  curl -fsS -X POST http://127.0.0.1:{failing.AppPort}/fault/ok");
        text.AppendLine();
        return text.ToString();
    }
}

/// <summary>An <see cref="IHostLifetime"/> that leaves start and stop to <see cref="MeshDemo"/>.</summary>
internal sealed class DemoHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
