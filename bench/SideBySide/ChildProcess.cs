using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>A server the harness started: its output goes to a log file (never a pipe it must drain).</summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process process;

    private ChildProcess(Process process, string logPath)
    {
        this.process = process;
        LogPath = logPath;
    }

    public int Pid => process.Id;

    public string LogPath { get; }

    public bool HasExited => process.HasExited;

    public static ChildProcess Start(string command, IEnumerable<string> arguments, string logPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        // exec keeps the PID the server's own, so RSS and CPU are read from the right process.
        var line = "exec " + string.Join(' ', new[] { command }.Concat(arguments).Select(Quote)) + $" >> {Quote(logPath)} 2>&1";
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(line);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        return new ChildProcess(Process.Start(info)!, logPath);
    }

    public async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"exited with {process.ExitCode} before listening on {port}; see {LogPath}:\n{Tail()}");
            }

            using var socket = new TcpClient();
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException($"nothing listens on {port} after {timeout.TotalSeconds} s; see {LogPath}:\n{Tail()}");
    }

    private string Tail()
    {
        var lines = File.Exists(LogPath) ? File.ReadAllLines(LogPath) : [];
        return string.Join('\n', lines.TakeLast(15));
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            // SIGTERM first (nginx, haproxy and .NET all shut down on it), then kill.
            _ = Process.Start("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }

        process.Dispose();
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
