using System.Diagnostics;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A server written in Python (a non-.NET peer: python3-h2 for raw HTTP/2, sockets) in a process of its own. Its script
/// binds 127.0.0.1 port 0 and prints the port as its first line.
/// </summary>
public sealed class PythonServer : IDisposable
{
    private readonly Process _process;

    private PythonServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string Address => $"http://127.0.0.1:{Port}";

    /// <param name="onOutputLine">Called with each line the script prints after its port (e.g. what it saw).</param>
    /// <param name="interpreter">Debian's /usr/bin/python3 carries python3-h2 (see .ci/run).</param>
    public static async Task<PythonServer> StartAsync(string script, Action<string>? onOutputLine = null, string interpreter = "/usr/bin/python3")
    {
        var path = Path.Combine(Path.GetTempPath(), $"python-server-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(path, script);
        var start = new ProcessStartInfo(interpreter) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(path);
        var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (!int.TryParse(line, out var port))
            {
                throw new InvalidOperationException($"the Python server did not start: {line} {await process.StandardError.ReadToEndAsync()}");
            }

            _ = ForwardLinesAsync(process.StandardOutput, onOutputLine);
            _ = process.StandardError.ReadToEndAsync();
            return new PythonServer(process, port);
        }
        catch
        {
            Stop(process);
            throw;
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// An h2c server in python3-h2: accepts connections on a thread each and calls <c>on_request(conn, event)</c>, which
    /// <paramref name="definitions"/> (top-level Python) defines, for every <c>RequestReceived</c>.
    /// </summary>
    /// <param name="configOptions">Extra <c>H2Configuration</c> arguments, e.g. <c>validate_outbound_headers=False</c>.</param>
    public static Task<PythonServer> StartH2Async(string definitions, string configOptions = "", Action<string>? onOutputLine = null) =>
        StartAsync($$"""
            import socket, threading
            import h2.config, h2.connection, h2.errors, h2.events, h2.exceptions

            {{definitions}}

            def serve(sock):
                conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False{{(configOptions.Length > 0 ? ", " + configOptions : "")}}))
                conn.initiate_connection()
                sock.sendall(conn.data_to_send())
                try:
                    while True:
                        data = sock.recv(65535)
                        if not data:
                            break
                        for event in conn.receive_data(data):
                            if isinstance(event, h2.events.RequestReceived):
                                on_request(conn, event)
                        sock.sendall(conn.data_to_send())
                except (h2.exceptions.ProtocolError, OSError):
                    pass
                sock.close()

            server = socket.socket()
            server.bind(("127.0.0.1", 0))
            server.listen()
            print(server.getsockname()[1], flush=True)
            while True:
                client, _ = server.accept()
                threading.Thread(target=serve, args=(client,), daemon=True).start()
            """, onOutputLine);

    public void Dispose() => Stop(_process);

    private static async Task ForwardLinesAsync(StreamReader output, Action<string>? onLine)
    {
        while (await output.ReadLineAsync() is { } line)
        {
            onLine?.Invoke(line);
        }
    }

    private static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }

        process.Dispose();
    }
}
