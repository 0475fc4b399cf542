using System.Globalization;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// CongoDB, a MongoDB wire-protocol server in JavaScript (npm <c>@push.rocks/smartmongo</c>), on a free 127.0.0.1
/// port: installed once with npm into <c>$PROXYMESH_PEERS/congodb</c> (<see cref="NodePeer"/>) together with the Node
/// <c>mongodb</c> 6.x driver, started as a child process, killed on dispose. Needs node and npm.
/// Known limit: <c>_id</c> must be an ObjectId. Use it as a class fixture (give each test its own collection).
/// </summary>
public sealed class CongoDb : IAsyncLifetime, IAsyncDisposable
{
    private const string SmartMongoVersion = "2.2.0";
    private const string NodeDriverVersion = "6";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

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

    private NodeProcess? _process;

    public int Port { get; private set; }

    /// <summary>Where CongoDB and the Node driver are installed: scripts run from here find <c>mongodb</c>.</summary>
    public string InstallDirectory { get; private set; } = "";

    public string ConnectionString => ConnectionStringFor(Port);

    /// <summary>A connection string for one server at <paramref name="port"/> (no discovery of other members).</summary>
    public static string ConnectionStringFor(int port) => $"mongodb://127.0.0.1:{port}/?directConnection=true";

    public async Task InitializeAsync()
    {
        InstallDirectory = await NodePeer.InstallAsync("congodb", IsInstalled, InstallAsync);
        await File.WriteAllTextAsync(Path.Combine(InstallDirectory, "server.mjs"), ServerScript);
        for (var attempt = 1; ; attempt++)
        {
            Port = ProxyProcess.FreePort();
            _process = NodeProcess.Start(InstallDirectory, ["server.mjs"], [new("PORT", Port.ToString(CultureInfo.InvariantCulture))]);
            bool accepts;
            try
            {
                accepts = await _process.AcceptsAsync(Port, StartTimeout);
            }
            catch (InvalidOperationException)
            {
                await DisposeAsync();
                throw;
            }

            if (accepts)
            {
                return;
            }

            var output = _process.Output;
            await DisposeAsync();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"congodb exited at start three times; last output: {output}");
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
            var run = await NodePeer.RunAsync("node", InstallDirectory, timeout, [path], environment);
            return (run.ExitCode, run.Output);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
            _process = null;
        }
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    private static async Task InstallAsync(string directory)
    {
        var manifest = Path.Combine(directory, "package.json");
        if (!File.Exists(manifest))
        {
            await File.WriteAllTextAsync(manifest, """{ "name": "congodb-peer", "private": true, "type": "module" }""");
        }

        await NodePeer.NpmInstallAsync(directory, Dependencies);
        var packed = (await NodePeer.RunCheckedAsync("npm", directory, TimeSpan.FromMinutes(5), ["pack", "--silent", $"@push.rocks/smartmongo@{SmartMongoVersion}"])).Trim();
        var target = Path.Combine(directory, "node_modules", "@push.rocks", "smartmongo");
        Directory.CreateDirectory(target);
        await NodePeer.RunCheckedAsync("tar", directory, TimeSpan.FromMinutes(1), ["xzf", packed, "-C", target, "--strip-components=1"]);
        File.Delete(Path.Combine(directory, packed));
    }

    private static bool IsInstalled(string directory) =>
        File.Exists(Path.Combine(directory, "node_modules", "@push.rocks", "smartmongo", "dist_ts", "congodb", "index.js"))
        && NodePeer.HasPackage(directory, $"@push.rocks/smartmongo@{SmartMongoVersion}")
        && NodePeer.HasPackage(directory, "mongodb");
}
