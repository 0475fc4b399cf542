using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// CongoDB, a MongoDB wire-protocol server in JavaScript (npm <c>@push.rocks/smartmongo</c>), on a free 127.0.0.1
/// port: installed once with npm into <c>$PROXYMESH_PEERS/congodb</c> (default <c>~/.cache/proxymesh-peers/congodb</c>)
/// together with the Node <c>mongodb</c> 6.x driver, started as a child process, killed on dispose. Needs node and npm.
/// Known limit: <c>_id</c> must be an ObjectId. Use it as a class fixture (give each test its own collection).
/// </summary>
public sealed class CongoDb : IAsyncLifetime, IAsyncDisposable
{
    private const string SmartMongoVersion = "2.2.0";
    private const string NodeDriverVersion = "6";
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly SemaphoreSlim Installing = new(1, 1);

    // smartmongo 2.2.0's own dependency list names versions the registry lacks: the ones it uses are installed
    // first, then its package is unpacked next to them.
    private static readonly string[] Dependencies =
    [
        "bson@^6.10.0", "mingo@^7.2.0", "@push.rocks/smartfs@^1.3.1", "@push.rocks/smartpath@^5.0.11",
        "@push.rocks/smartpromise@^4.0.3", "@push.rocks/smartrx@^3.0.0", $"mongodb@^{NodeDriverVersion}",
    ];

    private const string ServerScript = """
        import { CongoServer } from '@push.rocks/smartmongo/dist_ts/congodb/index.js';
        const server = new CongoServer({ host: '127.0.0.1', port: Number(process.env.PORT) });
        await server.start();
        console.log('congodb listening');
        """;

    private readonly StringBuilder _output = new();
    private Process? _process;

    public int Port { get; private set; }

    /// <summary>Where CongoDB and the Node driver are installed: scripts run from here find <c>mongodb</c>.</summary>
    public string InstallDirectory { get; private set; } = "";

    public string ConnectionString => ConnectionStringFor(Port);

    /// <summary>A connection string for one server at <paramref name="port"/> (no discovery of other members).</summary>
    public static string ConnectionStringFor(int port) => $"mongodb://127.0.0.1:{port}/?directConnection=true";

    public async Task InitializeAsync()
    {
        InstallDirectory = await InstallAsync();
        await File.WriteAllTextAsync(Path.Combine(InstallDirectory, "server.mjs"), ServerScript);
        for (var attempt = 1; ; attempt++)
        {
            Port = ProxyProcess.FreePort();
            if (await TryLaunchAsync())
            {
                return;
            }

            if (attempt == 3)
            {
                throw new InvalidOperationException($"congodb exited at start three times; last output: {Output}");
            }
        }
    }

    /// <summary>Runs an ES module with node from the install folder (so it can <c>import 'mongodb'</c>).</summary>
    /// <returns>Exit code and everything it printed.</returns>
    public async Task<(int ExitCode, string Output)> RunNodeAsync(string script, IDictionary<string, string> environment, TimeSpan timeout)
    {
        var scripts = Path.Combine(InstallDirectory, "scripts");
        Directory.CreateDirectory(scripts);
        var path = Path.Combine(scripts, $"{Guid.NewGuid():N}.mjs");
        await File.WriteAllTextAsync(path, script);
        try
        {
            var start = new ProcessStartInfo("node", [path])
            {
                WorkingDirectory = InstallDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var (key, value) in environment)
            {
                start.Environment[key] = value;
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
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
                throw new TimeoutException($"node script did not finish within {timeout.TotalSeconds} s: {await stdout}{await stderr}");
            }

            return (process.ExitCode, await stdout + await stderr);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public async Task DisposeAsync()
    {
        if (_process is null)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    private async Task<bool> TryLaunchAsync()
    {
        var start = new ProcessStartInfo("node", ["server.mjs"])
        {
            WorkingDirectory = InstallDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["PORT"] = Port.ToString(CultureInfo.InvariantCulture);
        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        process.OutputDataReceived += (_, line) => Append(line.Data);
        process.ErrorDataReceived += (_, line) => Append(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + StartTimeout;
        while (!await AcceptsAsync(Port))
        {
            if (process.HasExited)
            {
                await DisposeAsync();
                return false;
            }

            if (DateTime.UtcNow > deadline)
            {
                await DisposeAsync();
                throw new InvalidOperationException($"congodb did not accept connections on port {Port} within {StartTimeout.TotalSeconds} s: {Output}");
            }

            await Task.Delay(25);
        }

        return true;
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private static async Task<bool> AcceptsAsync(int port)
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

    /// <summary>Installs CongoDB and the Node driver once (per machine: later runs find them in the cache folder).</summary>
    private static async Task<string> InstallAsync()
    {
        var peers = Environment.GetEnvironmentVariable("PROXYMESH_PEERS");
        var root = string.IsNullOrEmpty(peers)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "proxymesh-peers")
            : peers;
        var directory = Path.Combine(root, "congodb");
        await Installing.WaitAsync();
        try
        {
            if (IsInstalled(directory))
            {
                return directory;
            }

            Directory.CreateDirectory(directory);
            var manifest = Path.Combine(directory, "package.json");
            if (!File.Exists(manifest))
            {
                await File.WriteAllTextAsync(manifest, """{ "name": "congodb-peer", "private": true, "type": "module" }""");
            }

            await NpmAsync(directory, ["install", "--no-audit", "--no-fund", .. Dependencies]);
            var packed = (await NpmAsync(directory, ["pack", "--silent", $"@push.rocks/smartmongo@{SmartMongoVersion}"])).Trim();
            var target = Path.Combine(directory, "node_modules", "@push.rocks", "smartmongo");
            Directory.CreateDirectory(target);
            await RunAsync("tar", directory, ["xzf", packed, "-C", target, "--strip-components=1"]);
            File.Delete(Path.Combine(directory, packed));
            if (!IsInstalled(directory))
            {
                throw new InvalidOperationException($"CongoDB is not complete in {directory} after installing it");
            }

            return directory;
        }
        finally
        {
            Installing.Release();
        }
    }

    private static Task<string> NpmAsync(string directory, string[] arguments) => RunAsync("npm", directory, arguments);

    private static async Task<string> RunAsync(string program, string directory, string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(InstallTimeout);
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed in {directory}: {await stdout}{await stderr}");
        }

        return await stdout;
    }

    private static bool IsInstalled(string directory) =>
        File.Exists(Path.Combine(directory, "node_modules", "@push.rocks", "smartmongo", "dist_ts", "congodb", "index.js"))
        && File.Exists(Path.Combine(directory, "node_modules", "@push.rocks", "smartmongo", "package.json"))
        && File.ReadAllText(Path.Combine(directory, "node_modules", "@push.rocks", "smartmongo", "package.json")).Contains($"\"version\": \"{SmartMongoVersion}\"", StringComparison.Ordinal)
        && File.Exists(Path.Combine(directory, "node_modules", "mongodb", "package.json"));
}
