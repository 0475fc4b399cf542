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
