using System.Globalization;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// dynalite, a DynamoDB-compatible server (npm), on a free 127.0.0.1 port: installed once with npm into
/// <c>$PROXYMESH_PEERS/dynalite</c> (<see cref="NodePeer"/>), started as a child process, killed on dispose. Its data
/// lives in a temporary LevelDB directory, so <see cref="StopAsync"/> and <see cref="RestartAsync"/> make an outage that
/// loses nothing, as a DynamoDB outage would. Needs node and npm. Use it as a class fixture (a server shared by a class's
/// tests: give each test its own table) or start one of your own with <see cref="StartAsync"/>.
/// </summary>
public sealed class Dynalite : IAsyncLifetime, IAsyncDisposable
{
    private const string Package = "dynalite@4.0.0";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", "dynalite-" + Guid.NewGuid().ToString("N"));
    private string? _installDirectory;
    private NodeProcess? _process;
    private string _lastOutput = "";

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
        _installDirectory = await NodePeer.InstallAsync(
            "dynalite",
            directory => NodePeer.HasPackage(directory, Package) && File.Exists(Path.Combine(directory, "node_modules", ".bin", "dynalite")),
            async directory =>
            {
                await File.WriteAllTextAsync(Path.Combine(directory, "package.json"), """{ "name": "dynalite-peer", "private": true }""");
                await NodePeer.NpmInstallAsync(directory, Package);
            });
        for (var attempt = 1; ; attempt++)
        {
            Port = ProxyProcess.FreePort();
            if (await TryLaunchAsync())
            {
                return;
            }

            if (attempt == 3)
            {
                throw new InvalidOperationException($"dynalite exited at start three times; last output: {_lastOutput}");
            }

            // Most likely the free port was taken in between: try another.
        }
    }

    /// <summary>Kills the server: DynamoDB is down until <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is not null)
        {
            _lastOutput = _process.Output;
            await _process.DisposeAsync();
            _process = null;
        }
    }

    /// <summary>Starts the server again on the same port, with the data it had.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        if (!await TryLaunchAsync())
        {
            throw new InvalidOperationException($"dynalite did not start again on port {Port}: {_lastOutput}");
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
        _process = NodeProcess.Start(
            _installDirectory,
            [
                "node_modules/.bin/dynalite", "--host", "127.0.0.1", "--port", Port.ToString(CultureInfo.InvariantCulture),
                "--createTableMs", "50", "--deleteTableMs", "50", "--path", _dataDirectory,
            ]);
        try
        {
            if (await _process.AcceptsAsync(Port, StartTimeout))
            {
                return true;
            }
        }
        catch (InvalidOperationException)
        {
            await StopAsync();
            throw;
        }

        await StopAsync();
        return false;
    }
}
