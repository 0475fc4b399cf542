using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// dynalite, a DynamoDB-compatible server (npm), on a free 127.0.0.1 port: installed once with npm into
/// <c>$PROXYMESH_PEERS/dynalite</c> (default <c>~/.cache/proxymesh-peers/dynalite</c>), started as a child process,
/// killed on dispose. Its data lives in a temporary LevelDB directory, so <see cref="StopAsync"/> and
/// <see cref="RestartAsync"/> make an outage that loses nothing, as a DynamoDB outage would. Needs node and npm.
/// Use it as a class fixture (a server shared by a class's tests: give each test its own table) or start one of
/// your own with <see cref="StartAsync"/>.
/// </summary>
public sealed class Dynalite : IAsyncLifetime, IAsyncDisposable
{
    private const string Version = "4.0.0";
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly SemaphoreSlim Installing = new(1, 1);

    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", "dynalite-" + Guid.NewGuid().ToString("N"));
    private readonly StringBuilder _output = new();
    private string? _installDirectory;
    private Process? _process;

    public int Port { get; private set; }

    /// <summary>The AWS SDK's <c>ServiceURL</c> (any credentials, any region).</summary>
    public Uri ServiceUrl => new($"http://127.0.0.1:{Port}");

    public static async Task<Dynalite> StartAsync()
    {
        var dynalite = new Dynalite();
        await dynalite.InitializeAsync();
        return dynalite;
    }

    public async Task InitializeAsync()
    {
        _installDirectory = await InstallAsync();
        for (var attempt = 1; ; attempt++)
        {
            Port = ProxyProcess.FreePort();
            if (await TryLaunchAsync())
            {
                return;
            }

            if (attempt == 3)
            {
                throw new InvalidOperationException($"dynalite exited at start three times; last output: {Output}");
            }

            // Most likely the free port was taken in between: try another.
        }
    }

    /// <summary>Kills the server: DynamoDB is down until <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
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

    /// <summary>Starts the server again on the same port, with the data it had.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        if (!await TryLaunchAsync())
        {
            throw new InvalidOperationException($"dynalite did not start again on port {Port}: {Output}");
        }
    }

    public async Task DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    /// <returns>False when the server exited at start (e.g. its port was taken); throws when it hangs.</returns>
    private async Task<bool> TryLaunchAsync()
    {
        Directory.CreateDirectory(_dataDirectory);
        lock (_output)
        {
            _output.Clear();
        }

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = _installDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "node_modules/.bin/dynalite", "--host", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--createTableMs", "50", "--deleteTableMs", "50", "--path", _dataDirectory,
        })
        {
            start.ArgumentList.Add(arg);
        }

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
                await StopAsync();
                return false;
            }

            if (DateTime.UtcNow > deadline)
            {
                await StopAsync();
                throw new InvalidOperationException($"dynalite did not accept connections on port {Port} within {StartTimeout.TotalSeconds} s: {Output}");
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

    /// <summary>Installs dynalite once (per machine: later runs find it in the cache folder).</summary>
    private static async Task<string> InstallAsync()
    {
        var peers = Environment.GetEnvironmentVariable("PROXYMESH_PEERS");
        var root = string.IsNullOrEmpty(peers)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "proxymesh-peers")
            : peers;
        var directory = Path.Combine(root, "dynalite");
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
                await File.WriteAllTextAsync(manifest, """{ "name": "dynalite-peer", "private": true }""");
            }

            var npm = new ProcessStartInfo("npm")
            {
                WorkingDirectory = directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "install", "--no-audit", "--no-fund", $"dynalite@{Version}" })
            {
                npm.ArgumentList.Add(arg);
            }

            using var process = Process.Start(npm) ?? throw new InvalidOperationException("npm did not start");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(InstallTimeout);
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0 || !IsInstalled(directory))
            {
                throw new InvalidOperationException($"npm install dynalite@{Version} failed in {directory}: {await stdout}{await stderr}");
            }

            return directory;
        }
        finally
        {
            Installing.Release();
        }
    }

    private static bool IsInstalled(string directory)
    {
        var package = Path.Combine(directory, "node_modules", "dynalite", "package.json");
        return File.Exists(package)
            && File.Exists(Path.Combine(directory, "node_modules", ".bin", "dynalite"))
            && File.ReadAllText(package).Contains($"\"version\": \"{Version}\"", StringComparison.Ordinal);
    }
}
