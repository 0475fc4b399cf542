using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>
/// The Library service in Node (@grpc/grpc-js with @grpc/proto-loader reading the same transcoding.proto): a gRPC
/// upstream that is not .NET. Installed once with npm into <c>$PROXYMESH_PEERS/grpc-js-transcoding</c>
/// (<see cref="NodePeer"/>), started as a child process on a port it picks and prints, killed on dispose.
/// </summary>
public sealed class NodeLibraryServer : IAsyncLifetime
{
    private static readonly string[] Packages = ["@grpc/grpc-js@1.14.7", "@grpc/proto-loader@0.8.1"];

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

    private NodeProcess? _process;

    public string Address { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        var directory = await NodePeer.InstallPackagesAsync("grpc-js-transcoding", Packages);
        var script = Path.Combine(directory, "library-server.js");
        await File.WriteAllTextAsync(script, Script);
        _process = NodeProcess.Start(
            directory, [script, Path.Combine(AppContext.BaseDirectory, "Protos")], announces: line => line.StartsWith("listening ", StringComparison.Ordinal));
        var listening = await _process.AnnouncedAsync(TimeSpan.FromSeconds(60));
        Address = $"http://127.0.0.1:{listening["listening ".Length..]}";
    }

    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }
}
