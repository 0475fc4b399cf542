using System.Net.Sockets;
using System.Text.RegularExpressions;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Deploy;

/// <summary>
/// README's first command, run as a new user would: <c>dotnet run --project Demo</c> from the repository root (here
/// with <c>--no-build</c> in the tests' configuration, and its own ports), then every line it prints to try, then Ctrl+C.
/// </summary>
public sealed partial class DemoTests
{
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan LineDeadline = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task The_demo_prints_lines_that_all_work_and_stops_cleanly_on_ctrl_c()
    {
        Assert.Contains("dotnet run --project Demo", await File.ReadAllTextAsync(Repository.PathOf("README.md")), StringComparison.Ordinal);
        var basePort = FreePortRange(40);
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", "demo-" + Guid.NewGuid().ToString("N"));
        await using var demo = TerminalProcess.Start(
            Repository.Root, "dotnet", "run", "--project", "Demo", "--no-build", "-c", Repository.Configuration, "--",
            "--base-port", basePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--dir", directory);

        await Eventually.AssertAsync(
            () => Task.FromResult(demo.Output.Contains("Try:", StringComparison.Ordinal) || demo.HasExited),
            "the demo prints what to try", StartDeadline);
        Assert.False(demo.HasExited, demo.Output);

        var lines = CurlLine().Matches(demo.Output).Select(match => match.Groups[1].Value.Trim()).ToArray();
        Assert.True(lines.Length >= 8, demo.Output);
        Assert.Contains(lines, line => line.Contains("-H 'Host: locations'", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("/clusters", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("/stats", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("/metrics", StringComparison.Ordinal));
        var failLine = Assert.Single(lines, line => line.Contains("/fault/fail", StringComparison.Ordinal));

        var statsUrl = StatsUrl().Match(string.Join('\n', lines)).Value;
        var retriesBefore = 0L;
        foreach (var line in lines)
        {
            if (line == failLine)
            {
                retriesBefore = await CounterAsync(statsUrl, "cluster.locations.upstream_rq_retry");
            }

            // A line may need the mesh to move first (stats that appear once traffic failed): poll until it works.
            var last = (ExitCode: -1, Output: "");
            var worked = await Eventually.TrueAsync(
                async () => (last = await Repository.RunShellAsync(line)).ExitCode == 0, LineDeadline);
            Assert.True(worked, $"'{line}' failed ({last.ExitCode}):\n{last.Output}\n--- demo output:\n{demo.Output}");

            if (line == failLine)
            {
                // The injected fault shows in the stats: users' sidecar retries the failing instance's 503s elsewhere.
                await Eventually.AssertAsync(
                    async () => await CounterAsync(statsUrl, "cluster.locations.upstream_rq_retry") > retriesBefore,
                    "users' sidecar retries locations", LineDeadline);
            }
        }

        var exitCode = await demo.InterruptAsync(TimeSpan.FromSeconds(60));
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{demo.Output}");
        Assert.Contains("ProxyMesh demo: stopped", demo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", demo.Output, StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }

    private static async Task<long> CounterAsync(string statsUrl, string name)
    {
        using var client = new HttpClient();
        foreach (var line in (await client.GetStringAsync(statsUrl)).Split('\n'))
        {
            if (line.StartsWith(name + ": ", StringComparison.Ordinal))
            {
                return long.Parse(line[(name.Length + 2)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    /// <summary>A base port with <paramref name="count"/> free ports above it (the demo listens on a few of them).</summary>
    private static int FreePortRange(int count)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var basePort = Random.Shared.Next(20000, 40000);
            if (Enumerable.Range(basePort, count).All(IsFree))
            {
                return basePort;
            }
        }

        throw new InvalidOperationException("no free port range");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(System.Net.IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"^\s+(curl .+)$", RegexOptions.Multiline)]
    private static partial Regex CurlLine();

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/stats")]
    private static partial Regex StatsUrl();
}
