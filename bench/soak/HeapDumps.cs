using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ProxyMesh.Bench.Soak;

/// <summary>One <c>dotnet-gcdump report</c>: live bytes and objects per type.</summary>
internal sealed record HeapDump(TimeSpan Elapsed, long HeapBytes, long Objects, IReadOnlyDictionary<string, (long Bytes, long Count)> Types);

/// <summary>
/// Type-level heap snapshots of the proxy with <c>dotnet-gcdump</c> (the NuGet tool): <c>collect</c> (which runs a
/// full, blocking GC in the proxy: only live objects are counted), then <c>report</c>. Two of them, at the end of the
/// warm-up and at the end of the load, say which types a growing heap is made of.
/// </summary>
internal static partial class HeapDumps
{
    public static async Task<HeapDump?> TakeAsync(string toolPath, int pid, TimeSpan elapsed, string workDirectory)
    {
        var file = Path.Combine(workDirectory, $"proxy-{(int)elapsed.TotalSeconds}s.gcdump");
        var collect = await RunAsync(toolPath, ["collect", "-p", pid.ToString(CultureInfo.InvariantCulture), "-o", file]);
        if (!File.Exists(file))
        {
            Console.WriteLine($"dotnet-gcdump collect wrote nothing:\n{collect}");
            return null;
        }

        var report = await RunAsync(toolPath, ["report", file]);
        var types = new Dictionary<string, (long Bytes, long Count)>(StringComparer.Ordinal);
        long heapBytes = 0, objects = 0;
        foreach (var line in report.Split('\n'))
        {
            if (Total().Match(line) is { Success: true } total)
            {
                var value = long.Parse(total.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
                (heapBytes, objects) = total.Groups[2].Value == "bytes" ? (value, objects) : (heapBytes, value);
            }
            else if (TypeRow().Match(line) is { Success: true } row)
            {
                var type = row.Groups[3].Value.Trim();
                var bytes = long.Parse(row.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
                var count = long.Parse(row.Groups[2].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
                types[type] = types.TryGetValue(type, out var seen) ? (seen.Bytes + bytes, seen.Count + count) : (bytes, count);
            }
        }

        Console.WriteLine($"gcdump at {elapsed:mm\\:ss}: {heapBytes:N0} live bytes, {objects:N0} objects ({file})");
        return new HeapDump(elapsed, heapBytes, objects, types);
    }

    /// <summary>Types whose live bytes grew most between the two dumps.</summary>
    public static IEnumerable<(string Type, long BytesBefore, long BytesAfter, long CountBefore, long CountAfter)> Growth(HeapDump before, HeapDump after, int top) =>
        after.Types.Keys.Union(before.Types.Keys)
            .Select(type =>
            {
                var (bytesBefore, countBefore) = before.Types.GetValueOrDefault(type);
                var (bytesAfter, countAfter) = after.Types.GetValueOrDefault(type);
                return (type, bytesBefore, bytesAfter, countBefore, countAfter);
            })
            .OrderByDescending(row => row.bytesAfter - row.bytesBefore)
            .Take(top);

    private static async Task<string> RunAsync(string toolPath, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(toolPath, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
        }

        return await output + await error;
    }

    /// <summary>"      4,327,479  GC Heap bytes" and "         38,530  GC Heap objects".</summary>
    [GeneratedRegex(@"^\s*([\d,]+)\s+GC Heap (bytes|objects)\s*$")]
    private static partial Regex Total();

    /// <summary>"   Object Bytes     Count  Type": one row per type (large and small instances of a type on rows of their own).</summary>
    [GeneratedRegex(@"^\s*([\d,]+)\s+([\d,]+)\s+(\S.*?)(?:\s+\(Bytes > [\d,]+K\))?\s+\[[^\]]*\]\s*$")]
    private static partial Regex TypeRow();
}
