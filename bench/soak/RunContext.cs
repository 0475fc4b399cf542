using System.Diagnostics;
using System.Globalization;

namespace ProxyMesh.Bench.Soak;

/// <summary>When, on what commit and on how busy a machine a run happened: figures mean little without it.</summary>
internal sealed record RunContext(DateTime StartedUtc, string Commit, int Cores, string LoadAtStart)
{
    public string LoadAtEnd { get; set; } = "";

    public static async Task<RunContext> CaptureAsync(string repositoryRoot) =>
        new(DateTime.UtcNow, await CommitAsync(repositoryRoot), Environment.ProcessorCount, LoadAverage());

    public string Describe() =>
        $"Run {StartedUtc:yyyy-MM-dd HH:mm} UTC on commit `{Commit}`, {Cores} cores; load average (1/5/15 min) {LoadAtStart} at the start, " +
        $"{LoadAtEnd} at the end. The load generator and the backends run in the harness process on the same cores as the proxy.\n";

    public static string LoadAverage()
    {
        var fields = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ') : [];
        return fields.Length >= 3 ? string.Join(" / ", fields[..3]) : "unknown";
    }

    private static async Task<string> CommitAsync(string repositoryRoot)
    {
        try
        {
            var info = new ProcessStartInfo("git", ["-C", repositoryRoot, "describe", "--always", "--dirty", "--abbrev=12"]) { RedirectStandardOutput = true };
            using var git = Process.Start(info)!;
            var output = (await git.StandardOutput.ReadToEndAsync()).Trim();
            await git.WaitForExitAsync();
            return git.ExitCode == 0 && output.Length > 0 ? output : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown (no git)";
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{StartedUtc:u} {Commit}");
}
