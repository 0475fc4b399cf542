using System.Diagnostics;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>The repository the tests run from: its root, and shell commands run in it as a user would type them.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration the tests were built in (Debug or Release), for commands that must not rebuild.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>Runs one line with bash (pipes and quotes as in a terminal) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunShellAsync(string commandLine, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("bash")
        {
            WorkingDirectory = workingDirectory ?? Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("-o");
        start.ArgumentList.Add("pipefail");
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(commandLine);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{commandLine}' did not finish in time");
        }

        return (process.ExitCode, await output + await error);
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ProxyMesh.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no ProxyMesh.sln above {AppContext.BaseDirectory}");
    }
}
