using System.Diagnostics;
using System.Text;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>
/// The Library service in Node (@grpc/grpc-js with @grpc/proto-loader reading the same transcoding.proto): a gRPC
/// upstream that is not .NET. Installed once with npm into <c>$PROXYMESH_PEERS/grpc-js-transcoding</c> (default
/// <c>~/.cache/proxymesh-peers</c>), started as a child process on a port it picks and prints, killed on dispose.
/// </summary>
public sealed class NodeLibraryServer : IAsyncLifetime
{
    private static readonly string[] Packages = ["@grpc/grpc-js@1.14.7", "@grpc/proto-loader@0.8.1"];
    private static readonly SemaphoreSlim Installing = new(1, 1);

    private const string Script = """
        const grpc = require('@grpc/grpc-js');
        const loader = require('@grpc/proto-loader');
        const definition = loader.loadSync('transcoding.proto', {
          includeDirs: [process.argv[2], '/usr/include'], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true,
        });
        const library = grpc.loadPackageDefinition(definition).proxymesh.transcoding;
        const server = new grpc.Server();
        server.addService(library.Library.service, {
          GetShelf: (call, callback) => call.request.name === 'shelves/missing'
            ? callback({ code: grpc.status.NOT_FOUND, details: `shelf ${call.request.name} does not exist` })
            : callback(null, { name: call.request.name, theme: 'node', book_count: '9007199254740993' }),
          CreateBook: (call, callback) => callback(null, { ...call.request.book, name: `${call.request.parent}/books/${call.request.request_id}` }),
          StreamBooks: (call) => {
            for (let i = 0; i < call.request.page_size; i++) {
              call.write({ name: `${call.request.parent}/books/${i}`, year: 2000 + i });
            }
            call.end();
          },
          Echo: (call, callback) => callback(null, call.request),
        });
        server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
          if (error) { console.error(error); process.exit(1); }
          console.log(`listening ${port}`);
        });
        """;

    private readonly StringBuilder _output = new();
    private Process? _process;

    public string Address { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        var directory = await InstallAsync();
        var script = Path.Combine(directory, "library-server.js");
        await File.WriteAllTextAsync(script, Script);
        var start = new ProcessStartInfo("node") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Protos"));
        _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _process.OutputDataReceived += (_, line) =>
        {
            Append(line.Data);
            if (line.Data?.StartsWith("listening ", StringComparison.Ordinal) == true)
            {
                listening.TrySetResult(line.Data["listening ".Length..]);
            }
        };
        _process.ErrorDataReceived += (_, line) => Append(line.Data);
        _process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"the node gRPC server exited: {Output}"));
        _process.EnableRaisingEvents = true;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var port = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Address = $"http://127.0.0.1:{port}";
    }

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
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

    private static async Task<string> InstallAsync()
    {
        var peers = Environment.GetEnvironmentVariable("PROXYMESH_PEERS");
        var root = string.IsNullOrEmpty(peers)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "proxymesh-peers")
            : peers;
        var directory = Path.Combine(root, "grpc-js-transcoding");
        await Installing.WaitAsync();
        try
        {
            if (File.Exists(Path.Combine(directory, "node_modules", "@grpc", "proto-loader", "package.json"))
                && File.Exists(Path.Combine(directory, "node_modules", "@grpc", "grpc-js", "package.json")))
            {
                return directory;
            }

            Directory.CreateDirectory(directory);
            await File.WriteAllTextAsync(Path.Combine(directory, "package.json"), """{ "name": "grpc-js-transcoding-peer", "private": true }""");
            var npm = new ProcessStartInfo("npm") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "install", "--no-audit", "--no-fund" }.Concat(Packages))
            {
                npm.ArgumentList.Add(argument);
            }

            using var process = Process.Start(npm) ?? throw new InvalidOperationException("npm did not start");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"npm install {string.Join(' ', Packages)} failed in {directory}: {await stdout}{await stderr}");
            }

            return directory;
        }
        finally
        {
            Installing.Release();
        }
    }
}
