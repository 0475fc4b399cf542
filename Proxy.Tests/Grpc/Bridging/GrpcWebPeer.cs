using System.Diagnostics;
using System.Text;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>
/// The Node gRPC-Web peers (Peer/*.js): the npm packages in Peer/package.json (grpc-web, protobufjs, esbuild,
/// playwright-core) are installed once into <c>$PROXYMESH_PEERS/grpc-web</c> (default
/// <c>~/.cache/proxymesh-peers/grpc-web</c>), the browser page is bundled with esbuild, and scripts run with node.
/// Needs node and npm; the browser test also needs Debian's chromium at <c>/usr/bin/chromium</c>.
/// </summary>
public static class GrpcWebPeer
{
    public const string Chromium = "/usr/bin/chromium";
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly SemaphoreSlim Installing = new(1, 1);
    private static string? _directory;

    public static async Task<string> InstallAsync()
    {
        await Installing.WaitAsync();
        try
        {
            if (_directory is not null)
            {
                return _directory;
            }

            var peers = Environment.GetEnvironmentVariable("PROXYMESH_PEERS");
            var root = string.IsNullOrEmpty(peers)
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "proxymesh-peers")
                : peers;
            var directory = Path.Combine(root, "grpc-web");
            Directory.CreateDirectory(directory);
            var source = Path.Combine(AppContext.BaseDirectory, "Grpc", "Bridging", "Peer");
            var manifest = await File.ReadAllTextAsync(Path.Combine(source, "package.json"));
            var installed = Path.Combine(directory, "installed-package.json");
            if (!File.Exists(installed) || await File.ReadAllTextAsync(installed) != manifest)
            {
                await File.WriteAllTextAsync(Path.Combine(directory, "package.json"), manifest);
                var (exitCode, output) = await RunAsync("npm", directory, InstallTimeout, "install", "--no-audit", "--no-fund");
                if (exitCode != 0)
                {
                    throw new InvalidOperationException($"npm install failed in {directory}: {output}");
                }

                await File.WriteAllTextAsync(installed, manifest);
            }

            foreach (var file in Directory.EnumerateFiles(source).Where(file => file.EndsWith(".js", StringComparison.Ordinal) || file.EndsWith(".mjs", StringComparison.Ordinal)))
            {
                File.Copy(file, Path.Combine(directory, Path.GetFileName(file)), overwrite: true);
            }

            return _directory = directory;
        }
        finally
        {
            Installing.Release();
        }
    }

    /// <summary>Bundles the browser page's script (grpc-web, protobufjs and page.js) into one file with esbuild.</summary>
    public static async Task<string> BundlePageAsync(string outputDirectory)
    {
        var directory = await InstallAsync();
        var bundle = Path.Combine(outputDirectory, "bundle.js");
        var (exitCode, output) = await RunAsync(
            "node", directory, TimeSpan.FromMinutes(1), "bundle.mjs", bundle);
        Assert.True(exitCode == 0, $"esbuild: {output}");
        return bundle;
    }

    /// <returns>The script's exit code, and what it printed to standard output then standard error.</returns>
    public static async Task<(int ExitCode, string Output)> NodeAsync(string script, params string[] arguments)
    {
        var directory = await InstallAsync();
        return await RunAsync("node", directory, TimeSpan.FromMinutes(2), [script, .. arguments]);
    }

    /// <summary>Starts a long-running script whose standard input and output the caller drives.</summary>
    public static async Task<Process> StartNodeAsync(string script, params string[] arguments)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = await InstallAsync(),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("node did not start");
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, string directory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {timeout}: {await stdout}{await stderr}");
        }

        return (process.ExitCode, new StringBuilder(await stdout).Append(await stderr).ToString());
    }
}
