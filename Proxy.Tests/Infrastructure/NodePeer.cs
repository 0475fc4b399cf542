using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// What the npm peers (<see cref="CongoDb"/>, <see cref="Dynalite"/>, <see cref="NodeGrpc"/>, the gRPC-Web and
/// transcoding peers) share: a folder per peer under <c>$PROXYMESH_PEERS</c> (default <c>~/.cache/proxymesh-peers</c>)
/// where npm installs its pinned packages once per machine, and node run from there. Needs node and npm.
/// </summary>
public static class NodePeer
{
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Installing = new(StringComparer.Ordinal);

    /// <summary>The folder of peer <paramref name="name"/>, once <paramref name="install"/> made <paramref name="isInstalled"/> true
    /// (one install at a time per peer; later runs find it done).</summary>
    public static async Task<string> InstallAsync(string name, Func<string, bool> isInstalled, Func<string, Task> install)
    {
        var peers = Environment.GetEnvironmentVariable("PROXYMESH_PEERS");
        var root = string.IsNullOrEmpty(peers)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "proxymesh-peers")
            : peers;
        var directory = Path.Combine(root, name);
        var installing = Installing.GetOrAdd(name, _ => new SemaphoreSlim(1, 1));
        await installing.WaitAsync();
        try
        {
            if (isInstalled(directory))
            {
                return directory;
            }

            Directory.CreateDirectory(directory);
            await install(directory);
            if (!isInstalled(directory))
            {
                throw new InvalidOperationException($"npm peer {name} is not complete in {directory} after installing it");
            }

            return directory;
        }
        finally
        {
            installing.Release();
        }
    }

    /// <summary>The folder of peer <paramref name="name"/> with <paramref name="packages"/> (<c>name@version</c>, exact versions) installed.</summary>
    /// <param name="module">Marks the folder's package.json <c>"type": "module"</c>.</param>
    public static Task<string> InstallPackagesAsync(string name, string[] packages, bool module = false) =>
        InstallAsync(
            name,
            directory => packages.All(package => HasPackage(directory, package)),
            async directory =>
            {
                var manifest = Path.Combine(directory, "package.json");
                if (!File.Exists(manifest))
                {
                    await File.WriteAllTextAsync(manifest, $$"""{ "name": "{{name}}-peer", "private": true{{(module ? ", \"type\": \"module\"" : "")}} }""");
                }

                await NpmInstallAsync(directory, packages);
            });

    /// <summary>Whether <paramref name="package"/> (<c>name@version</c>, or a bare name for any version) is in the folder's node_modules.</summary>
    public static bool HasPackage(string directory, string package)
    {
        var at = package.LastIndexOf('@');
        var (name, version) = at > 0 ? (package[..at], package[(at + 1)..]) : (package, null);
        var manifest = Path.Combine(directory, "node_modules", name, "package.json");
        return File.Exists(manifest)
            && (version is null || version.StartsWith('^') || File.ReadAllText(manifest).Contains($"\"version\": \"{version}\"", StringComparison.Ordinal));
    }

    /// <summary><c>npm install</c> in <paramref name="directory"/>: of <paramref name="packages"/>, or of its package.json without any.</summary>
    public static Task NpmInstallAsync(string directory, params string[] packages) =>
        RunCheckedAsync("npm", directory, InstallTimeout, ["install", "--no-audit", "--no-fund", .. packages]);

    /// <summary>Runs <paramref name="program"/> to its end; its exit code must be 0.</summary>
    /// <returns>Its standard output.</returns>
    public static async Task<string> RunCheckedAsync(string program, string directory, TimeSpan timeout, IEnumerable<string> arguments)
    {
        var run = await RunAsync(program, directory, timeout, arguments);
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({run.ExitCode}) in {directory}: {run.Output}");
        }

        return run.StandardOutput;
    }

    /// <summary>Runs <paramref name="program"/> (npm, node …) to its end; killed, with a <see cref="TimeoutException"/>, when it takes longer than <paramref name="timeout"/>.</summary>
    public static async Task<NodeRun> RunAsync(
        string program, string? directory, TimeSpan timeout, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string>>? environment = null)
    {
        using var process = Process.Start(StartInfo(program, directory, arguments, environment)) ?? throw new InvalidOperationException($"{program} did not start");
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
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds} s: {await stdout}{await stderr}");
        }

        return new NodeRun(process.ExitCode, await stdout, await stderr);
    }

    internal static ProcessStartInfo StartInfo(
        string program, string? directory, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string>>? environment)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (directory is not null)
        {
            start.WorkingDirectory = directory;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        return start;
    }

    internal static async Task<bool> AcceptsAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>How a program run to its end went.</summary>
public sealed record NodeRun(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>Standard output, then standard error.</summary>
    public string Output => StandardOutput + StandardError;
}

/// <summary>A long-running node server of an npm peer: what it prints is kept for error messages; killed with its children on dispose.</summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _announced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Func<string, bool> _announces;

    private NodeProcess(Process process, Func<string, bool> announces)
    {
        _process = process;
        _announces = announces;
        _process.OutputDataReceived += (_, line) => Append(line.Data, standardOutput: true);
        _process.ErrorDataReceived += (_, line) => Append(line.Data, standardOutput: false);
        _process.EnableRaisingEvents = true;
        _process.Exited += (_, _) => _announced.TrySetException(new InvalidOperationException($"node exited: {Output}"));
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Starts <c>node</c> with <paramref name="arguments"/>.</summary>
    /// <param name="announces">Which line of its standard output says it is ready (<see cref="AnnouncedAsync"/>); by default the first.</param>
    public static NodeProcess Start(
        string? directory, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string>>? environment = null, Func<string, bool>? announces = null) =>
        new(Process.Start(NodePeer.StartInfo("node", directory, arguments, environment)) ?? throw new InvalidOperationException("node did not start"),
            announces ?? (_ => true));

    /// <summary>Standard output and error as printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The line that said the server is ready; throws when it exited first or said nothing in time.</summary>
    public async Task<string> AnnouncedAsync(TimeSpan timeout)
    {
        try
        {
            return await _announced.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"node did not say it was ready within {timeout.TotalSeconds} s: {Output}");
        }
    }

    /// <summary>Waits until the server accepts connections on <paramref name="port"/>.</summary>
    /// <returns>False when it exited first (e.g. its port was taken); throws when it neither accepts nor exits in time.</returns>
    public async Task<bool> AcceptsAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await NodePeer.AcceptsAsync(port))
        {
            if (_process.HasExited)
            {
                return false;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"node did not accept connections on port {port} within {timeout.TotalSeconds} s: {Output}");
            }

            await Task.Delay(25);
        }

        return true;
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

    private void Append(string? line, bool standardOutput)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (standardOutput && _announces(line))
        {
            _announced.TrySetResult(line);
        }
    }
}
