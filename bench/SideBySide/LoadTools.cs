using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>What one closed-loop run measured.</summary>
internal sealed record Throughput(double RequestsPerSecond, long Requests, long Errors);

/// <summary>The packaged load generators: wrk (HTTP/1.1) and h2load (h2c, gRPC).</summary>
internal static partial class LoadTools
{
    /// <summary>wrk -t1 -c32: HTTP/1.1 keep-alive, closed loop.</summary>
    public static async Task<Throughput> WrkAsync(string url, TimeSpan duration, int connections = 32)
    {
        var output = await RunAsync("wrk", ["-t1", $"-c{connections}", $"-d{Seconds(duration)}s", url]);
        var requests = long.Parse(WrkRequests().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var rate = double.Parse(WrkRate().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var errors = WrkNon2xx().Match(output) is { Success: true } non2xx ? long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var socketErrors = WrkSocketErrors().Match(output);
        if (socketErrors.Success)
        {
            for (var group = 1; group <= 4; group++)
            {
                errors += long.Parse(socketErrors.Groups[group].Value, CultureInfo.InvariantCulture);
            }
        }

        return new Throughput(rate, requests, errors);
    }

    /// <summary>h2load -c8 -m16 over h2c; with <paramref name="grpcBody"/> every request is a gRPC unary call.</summary>
    public static async Task<Throughput> H2loadAsync(string url, TimeSpan duration, string? grpcBody = null)
    {
        List<string> args = ["-c8", "-m16", "-D", Seconds(duration), url];
        if (grpcBody is not null)
        {
            args.AddRange(["-d", grpcBody, "-H", "content-type: application/grpc", "-H", "te: trailers"]);
        }

        var output = await RunAsync("h2load", args);
        var rate = double.Parse(H2loadRate().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var counts = H2loadCounts().Match(output);
        var succeeded = long.Parse(counts.Groups[2].Value, CultureInfo.InvariantCulture);
        var failed = long.Parse(counts.Groups[3].Value, CultureInfo.InvariantCulture) + long.Parse(counts.Groups[4].Value, CultureInfo.InvariantCulture);
        var non2xx = H2loadStatus().Match(output) is { Success: true } status
            ? long.Parse(status.Groups[3].Value, CultureInfo.InvariantCulture) + long.Parse(status.Groups[4].Value, CultureInfo.InvariantCulture)
            : 0;
        return new Throughput(rate, succeeded, failed + non2xx);
    }

    private static string Seconds(TimeSpan duration) => ((int)Math.Ceiling(duration.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static async Task<string> RunAsync(string tool, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var output = await stdout + await stderr;
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"{tool} exited with {process.ExitCode}:\n{output}");
    }

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex WrkRequests();

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex WrkRate();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex WrkNon2xx();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex WrkSocketErrors();

    [GeneratedRegex(@"finished in [\d.]+\w+, ([\d.]+) req/s")]
    private static partial Regex H2loadRate();

    [GeneratedRegex(@"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored")]
    private static partial Regex H2loadCounts();

    [GeneratedRegex(@"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")]
    private static partial Regex H2loadStatus();
}
