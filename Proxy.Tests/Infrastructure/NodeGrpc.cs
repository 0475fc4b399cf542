using System.Text.Json;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A gRPC peer that is not .NET: <c>@grpc/grpc-js</c> (npm) running the Echo service of <c>Protos/echo.proto</c>
/// (script <c>Grpc/Node/echo.js</c>), as a server on a free 127.0.0.1 port or as a client making one call. grpc-js is
/// installed once with npm into <c>$PROXYMESH_PEERS/grpc-js</c> (<see cref="NodePeer"/>).
/// Needs node and npm. Use it as a class fixture: one server shared by a class's tests.
/// </summary>
public sealed class NodeGrpc : IAsyncLifetime
{
    private static readonly string[] Packages = ["@grpc/grpc-js@1.14.7", "@grpc/proto-loader@0.8.1"];
    private static readonly JsonSerializerOptions WebJson = new(JsonSerializerDefaults.Web);
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "Grpc", "Node", "echo.js");
    private static readonly string Proto = Path.Combine(AppContext.BaseDirectory, "Protos", "echo.proto");

    private KeyValuePair<string, string>[] _environment = [];
    private NodeProcess? _server;

    /// <summary>The grpc-js server's address, for a cluster with <c>http2: true</c>.</summary>
    public string ServerAddress { get; private set; } = "";

    public async Task InitializeAsync()
    {
        _environment = [new("NODE_PATH", Path.Combine(await NodePeer.InstallPackagesAsync("grpc-js", Packages), "node_modules"))];
        _server = NodeProcess.Start(null, [Script, Proto, "server"], _environment);
        var announced = await _server.AnnouncedAsync(TimeSpan.FromSeconds(30));
        var port = JsonDocument.Parse(announced).RootElement.GetProperty("port").GetInt32();
        ServerAddress = $"http://127.0.0.1:{port}";
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>Makes one call with the grpc-js client and returns what it saw (code, details, trailers, replies …).</summary>
    /// <param name="target">The proxy listener to call through.</param>
    /// <param name="call">method (unary, serverStream, clientStream, bidi), message, count, failWithStatus, delayMs, deadlineMs, messages, keepOpen;
    /// metadata (name → value, base64 for -bin names), compression ("gzip"), messageSize (a message of that many characters) and
    /// digest (replies reported as length:sha256), keepaliveTimeMs (PINGs at that interval, also without calls), repeat and gapMs (the
    /// same call again on the same channel, that long apart).</param>
    public async Task<GrpcJsResult> CallAsync(Uri target, object call, TimeSpan? timeout = null)
    {
        var run = await NodePeer.RunAsync(
            "node", null, timeout ?? TimeSpan.FromSeconds(60), [Script, Proto, "client", $"{target.Host}:{target.Port}", JsonSerializer.Serialize(call)], _environment);
        if (run.ExitCode != 0 || run.StandardOutput.Length == 0)
        {
            throw new InvalidOperationException($"the grpc-js client failed ({run.ExitCode}): {run.Output}");
        }

        return JsonSerializer.Deserialize<GrpcJsResult>(run.StandardOutput, WebJson)!;
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
