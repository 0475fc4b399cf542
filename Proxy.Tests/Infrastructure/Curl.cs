using System.Diagnostics;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Runs the real curl binary (a third-party client) and returns what it printed.</summary>
public static class Curl
{
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--silent");
        start.ArgumentList.Add("--show-error");
        start.ArgumentList.Add("--max-time");
        start.ArgumentList.Add("20");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("curl did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    /// <summary>
    /// POSTs <paramref name="request"/> over HTTP/1.1 as a gRPC-Web or bridged gRPC client would (no <c>Expect</c>), the
    /// call named in <c>x-test-call</c>; files go to <paramref name="directory"/>.
    /// </summary>
    /// <returns>The status line and headers (names lower-cased), and the body (empty when none came).</returns>
    public static async Task<(List<string> Headers, byte[] Body)> PostHttp1Async(
        string directory, Uri url, string host, string contentType, string call, byte[] request)
    {
        var requestFile = Path.Combine(directory, call + ".request");
        var headersFile = Path.Combine(directory, call + ".headers");
        var bodyFile = Path.Combine(directory, call + ".body");
        await File.WriteAllBytesAsync(requestFile, request);
        var (exitCode, output) = await RunAsync(
            "--http1.1", "-X", "POST", url.ToString(),
            "-H", $"host: {host}", "-H", $"content-type: {contentType}", "-H", $"x-test-call: {call}", "-H", "expect:",
            "--data-binary", "@" + requestFile, "--dump-header", headersFile, "--output", bodyFile);
        Assert.True(exitCode == 0, output);
        var headers = (await File.ReadAllLinesAsync(headersFile))
            .Where(line => line.Length > 0)
            .Select((line, i) => i == 0 ? line : LowerName(line))
            .ToList();
        return (headers, File.Exists(bodyFile) ? await File.ReadAllBytesAsync(bodyFile) : []);
    }

    private static string LowerName(string header)
    {
        var colon = header.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? header : header[..colon].ToLowerInvariant() + header[colon..];
    }
}
