using System.Diagnostics;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Runs the real promtool (from Debian's <c>prometheus</c> package) and returns what it printed.</summary>
public static class Promtool
{
    /// <summary>Fails the calling test when promtool is not installed: the deploy assets are checked, never skipped.</summary>
    public static string Path() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => System.IO.Path.Combine(directory, "promtool"))
            .FirstOrDefault(File.Exists)
        ?? throw new Xunit.Sdk.XunitException(
            "promtool is not on PATH: install it with `apt-get install prometheus` (CI's .ci/run does so when it is missing).");

    public static Task<(int ExitCode, string Output, string Error)> RunAsync(string workingDirectory, params string[] arguments) =>
        RunWithInputAsync(workingDirectory, null, arguments);

    /// <summary><c>promtool check metrics</c> on a scrape (Prometheus text format).</summary>
    /// <returns>What promtool printed, with its exit code when not 0: empty when it found nothing wrong.</returns>
    public static async Task<string> CheckMetricsAsync(string metrics)
    {
        var (exitCode, output, error) = await RunWithInputAsync(System.IO.Path.GetTempPath(), metrics, "check", "metrics");
        return exitCode == 0 ? output + error : $"exit {exitCode}: {output}{error}";
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunWithInputAsync(string workingDirectory, string? input, params string[] arguments)
    {
        var start = new ProcessStartInfo(Path())
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = input is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("promtool did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
