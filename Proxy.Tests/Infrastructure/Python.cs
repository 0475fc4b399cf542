using System.Diagnostics;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Runs a python3 script (a non-.NET peer: sockets, ssl) and returns its exit code and output.</summary>
public static class Python
{
    /// <param name="interpreter">python3 on the PATH, or a given one (Debian's /usr/bin/python3 carries python3-h2).</param>
    public static async Task<(int ExitCode, string Output)> RunAsync(string script, string interpreter = "python3")
    {
        var start = new ProcessStartInfo(interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add("-");
        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        await process.StandardInput.WriteAsync(script);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }
}
