using System.Diagnostics;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Runs a python3 script (a non-.NET peer: sockets, ssl) and returns its exit code and output.</summary>
public static class Python
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string script)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
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
