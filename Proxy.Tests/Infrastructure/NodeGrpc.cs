using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A gRPC peer that is not .NET: <c>@grpc/grpc-js</c> (npm) running the Echo service of <c>Protos/echo.proto</c>
/// (script <c>Grpc/Node/echo.js</c>), as a server on a free 127.0.0.1 port or as a client making one call. grpc-js is
/// installed once with npm into <c>$PROXYMESH_PEERS/grpc-js</c> (default <c>~/.cache/proxymesh-peers/grpc-js</c>).
/// Needs node and npm. Use it as a class fixture: one server shared by a class's tests.
/// </summary>
public sealed class NodeGrpc : IAsyncLifetime
{
    private static readonly (string Name, string Version)[] Packages = [("@grpc/grpc-js", "1.14.7"), ("@grpc/proto-loader", "0.8.1")];
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly SemaphoreSlim Installing = new(1, 1);
    private static readonly JsonSerializerOptions WebJson = new(JsonSerializerDefaults.Web);
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "Grpc", "Node", "echo.js");
    private static readonly string Proto = Path.Combine(AppContext.BaseDirectory, "Protos", "echo.proto");

    private readonly StringBuilder _output = new();
    private string _modules = "";
    private Process? _server;

    /// <summary>The grpc-js server's address, for a cluster with <c>http2: true</c>.</summary>
    public string ServerAddress { get; private set; } = "";

    public async Task InitializeAsync()
    {
        _modules = Path.Combine(await InstallAsync(), "node_modules");
        _server = Start("server");
        var first = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.OutputDataReceived += (_, line) =>
        {
            Append(line.Data);
            if (line.Data is not null)
            {
                first.TrySetResult(line.Data);
            }
        };
        _server.ErrorDataReceived += (_, line) => Append(line.Data);
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();
        string announced;
        try
        {
            announced = await first.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"the grpc-js server did not start: {Output}");
        }

        var port = JsonDocument.Parse(announced).RootElement.GetProperty("port").GetInt32();
        ServerAddress = $"http://127.0.0.1:{port}";
    }

    public async Task DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync();
        }

        _server?.Dispose();
    }

    /// <summary>Makes one call with the grpc-js client and returns what it saw (code, details, trailers, replies …).</summary>
    /// <param name="target">The proxy listener to call through.</param>
    /// <param name="call">method (unary, serverStream, clientStream, bidi), message, count, failWithStatus, delayMs, deadlineMs, messages, keepOpen;
    /// metadata (name → value, base64 for -bin names), compression ("gzip"), messageSize (a message of that many characters) and
    /// digest (replies reported as length:sha256), keepaliveTimeMs (PINGs at that interval, also without calls), repeat and gapMs (the
    /// same call again on the same channel, that long apart).</param>
    public async Task<GrpcJsResult> CallAsync(Uri target, object call, TimeSpan? timeout = null)
    {
        using var client = Start("client", $"{target.Host}:{target.Port}", JsonSerializer.Serialize(call));
        var stdout = client.StandardOutput.ReadToEndAsync();
        var stderr = client.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await client.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            client.Kill(entireProcessTree: true);
            throw new TimeoutException($"the grpc-js client hung: {await stdout}{await stderr}");
        }

        var output = await stdout;
        if (client.ExitCode != 0 || output.Length == 0)
        {
            throw new InvalidOperationException($"the grpc-js client failed ({client.ExitCode}): {output}{await stderr}");
        }

        return JsonSerializer.Deserialize<GrpcJsResult>(output, WebJson)!;
    }

    private Process Start(params string[] arguments)
    {
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["NODE_PATH"] = _modules;
        start.ArgumentList.Add(Script);
        start.ArgumentList.Add(Proto);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("node did not start");
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

    /// <summary>Installs grpc-js once (per machine: later runs find it in the cache folder).</summary>
    private static async Task<string> InstallAsync()
    {
        var peers = Environment.GetEnvironmentVariable("PROXYMESH_PEERS");
        var root = string.IsNullOrEmpty(peers)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "proxymesh-peers")
            : peers;
        var directory = Path.Combine(root, "grpc-js");
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
                await File.WriteAllTextAsync(manifest, """{ "name": "grpc-js-peer", "private": true }""");
            }

            var npm = new ProcessStartInfo("npm")
            {
                WorkingDirectory = directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "install", "--no-audit", "--no-fund" })
            {
                npm.ArgumentList.Add(arg);
            }

            foreach (var (name, version) in Packages)
            {
                npm.ArgumentList.Add($"{name}@{version}");
            }

            using var process = Process.Start(npm) ?? throw new InvalidOperationException("npm did not start");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(InstallTimeout);
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0 || !IsInstalled(directory))
            {
                throw new InvalidOperationException($"npm install of grpc-js failed in {directory}: {await stdout}{await stderr}");
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
        foreach (var (name, version) in Packages)
        {
            var package = Path.Combine(directory, "node_modules", name, "package.json");
            if (!File.Exists(package) || !File.ReadAllText(package).Contains($"\"version\": \"{version}\"", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>
/// What the grpc-js client saw of its (last) call: status, response headers and trailers (<c>-bin</c> values in
/// base64), replies; the status of every call when it repeated one; keepalive PINGs sent and answered and GOAWAYs
/// received when it pinged.
/// </summary>
public sealed record GrpcJsResult(
    int Code,
    string Details,
    Dictionary<string, string> Trailers,
    List<GrpcJsReply> Replies,
    bool HeadersReceived,
    double ElapsedMs,
    Dictionary<string, string>? Headers = null,
    List<GrpcJsStatus>? Calls = null,
    int PingsSent = 0,
    int PingsAcked = 0,
    List<string>? Goaways = null);

public sealed record GrpcJsStatus(int Code, string Details);

public sealed record GrpcJsReply(string Message, double DeadlineSeconds);
