using System.Diagnostics;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>
/// The Node gRPC-Web peers (Peer/*.js): the npm packages in Peer/package.json (grpc-web, protobufjs, esbuild,
/// playwright-core) are installed once into <c>$PROXYMESH_PEERS/grpc-web</c> (<see cref="NodePeer"/>), the browser page
/// is bundled with esbuild, and scripts run with node.
/// Needs node and npm; the browser test also needs Debian's chromium at <c>/usr/bin/chromium</c>.
/// </summary>
public static class GrpcWebPeer
{
    public const string Chromium = "/usr/bin/chromium";
    private static readonly SemaphoreSlim Copying = new(1, 1);
    private static string? _directory;

    public static async Task<string> InstallAsync()
    {
        await Copying.WaitAsync();
        try
        {
            if (_directory is not null)
            {
                return _directory;
            }

            var source = Path.Combine(AppContext.BaseDirectory, "Grpc", "Bridging", "Peer");
            var manifest = await File.ReadAllTextAsync(Path.Combine(source, "package.json"));
            var directory = await NodePeer.InstallAsync(
                "grpc-web",
                directory => File.Exists(Path.Combine(directory, "installed-package.json"))
                    && File.ReadAllText(Path.Combine(directory, "installed-package.json")) == manifest,
                async directory =>
                {
                    await File.WriteAllTextAsync(Path.Combine(directory, "package.json"), manifest);
                    await NodePeer.NpmInstallAsync(directory);
                    await File.WriteAllTextAsync(Path.Combine(directory, "installed-package.json"), manifest);
                });
            foreach (var file in Directory.EnumerateFiles(source).Where(file => file.EndsWith(".js", StringComparison.Ordinal) || file.EndsWith(".mjs", StringComparison.Ordinal)))
            {
                File.Copy(file, Path.Combine(directory, Path.GetFileName(file)), overwrite: true);
            }

            return _directory = directory;
        }
        finally
        {
            Copying.Release();
        }
    }

    /// <summary>Bundles the browser page's script (grpc-web, protobufjs and page.js) into one file with esbuild.</summary>
    public static async Task<string> BundlePageAsync(string outputDirectory)
    {
        var directory = await InstallAsync();
        var bundle = Path.Combine(outputDirectory, "bundle.js");
        var run = await NodePeer.RunAsync("node", directory, TimeSpan.FromMinutes(1), ["bundle.mjs", bundle]);
        Assert.True(run.ExitCode == 0, $"esbuild: {run.Output}");
        return bundle;
    }

    /// <returns>The script's exit code, and what it printed to standard output then standard error.</returns>
    public static async Task<(int ExitCode, string Output)> NodeAsync(string script, params string[] arguments)
    {
        var run = await NodePeer.RunAsync("node", await InstallAsync(), TimeSpan.FromMinutes(2), [script, .. arguments]);
        return (run.ExitCode, run.Output);
    }

    /// <summary>Starts a long-running script whose standard input and output the caller drives.</summary>
    public static async Task<Process> StartNodeAsync(string script, params string[] arguments)
    {
        var start = NodePeer.StartInfo("node", await InstallAsync(), [script, .. arguments], null);
        start.RedirectStandardInput = true;
        start.RedirectStandardError = false;
        return Process.Start(start) ?? throw new InvalidOperationException("node did not start");
    }
}
