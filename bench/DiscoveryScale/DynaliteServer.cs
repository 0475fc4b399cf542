using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ProxyMesh.Bench.DiscoveryScale;

/// <summary>
/// dynalite (a DynamoDB-compatible server from npm) on a free 127.0.0.1 port, in memory, killed on dispose. Installed
/// once into <c>$PROXYMESH_PEERS/dynalite</c> (default <c>~/.cache/proxymesh-peers/dynalite</c>), the folder the
/// test fixture uses, so a machine that ran the tests already has it. Needs node and npm.
/// </summary>
internal sealed class DynaliteServer : IAsyncDisposable
{
    private const string Version = "4.0.0";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;

    private DynaliteServer(Process process, int port)
    {
        _process = process;
        ServiceUrl = new Uri($"http://127.0.0.1:{port}");
    }

    public Uri ServiceUrl { get; }

    public static async Task<DynaliteServer> StartAsync()
    {
        var directory = await InstallAsync();
        var port = FreePort();
        var start = new ProcessStartInfo("node") { WorkingDirectory = directory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "node_modules/.bin/dynalite", "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--createTableMs", "50" })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data?.StartsWith("Dynalite listening", StringComparison.Ordinal) == true)
            {
                listening.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is not null)
            {
                Console.Error.WriteLine($"dynalite: {line.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new DynaliteServer(process, port);
        if (await Task.WhenAny(listening.Task, process.WaitForExitAsync(), Task.Delay(StartTimeout)) != listening.Task)
        {
            await server.DisposeAsync();
            throw new InvalidOperationException($"dynalite did not start on 127.0.0.1:{port}");
        }

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> InstallAsync()
    {
        var peers = Environment.GetEnvironmentVariable("PROXYMESH_PEERS") is { Length: > 0 } set
            ? set
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "proxymesh-peers");
        var directory = Path.Combine(peers, "dynalite");
        var package = Path.Combine(directory, "node_modules", "dynalite", "package.json");
        if (File.Exists(package) && (await File.ReadAllTextAsync(package)).Contains($"\"version\": \"{Version}\"", StringComparison.Ordinal))
        {
            return directory;
        }

        Console.WriteLine($"installing dynalite@{Version} into {directory} …");
        Directory.CreateDirectory(directory);
        var manifest = Path.Combine(directory, "package.json");
        if (!File.Exists(manifest))
        {
            await File.WriteAllTextAsync(manifest, """{ "name": "dynalite-peer", "private": true }""");
        }

        var npm = new ProcessStartInfo("npm") { WorkingDirectory = directory, UseShellExecute = false };
        foreach (var arg in new[] { "install", "--no-audit", "--no-fund", $"dynalite@{Version}" })
        {
            npm.ArgumentList.Add(arg);
        }

        using var process = Process.Start(npm) ?? throw new InvalidOperationException("npm did not start");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return process.ExitCode == 0 && File.Exists(package)
            ? directory
            : throw new InvalidOperationException($"npm install dynalite@{Version} failed in {directory}");
    }
}
