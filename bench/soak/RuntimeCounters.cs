using System.Globalization;
using ProxyMesh.Bench.SideBySide;

namespace ProxyMesh.Bench.Soak;

/// <summary>The proxy's managed heap as its runtime's <c>System.Runtime</c> meter last reported it.</summary>
/// <param name="HeapBytes">GC heap size after the last collection, all generations (gen0, gen1, gen2, LOH, POH).</param>
/// <param name="Gen2Bytes">Gen2 size after the last collection: what survived long enough to be old.</param>
/// <param name="CommittedBytes">Memory the GC has committed from the OS (<c>dotnet.gc.last_collection.memory.committed_size</c>).</param>
/// <param name="FragmentationBytes">Free space inside the GC heap after the last collection, all generations.</param>
/// <param name="JitCompiledMethods">Methods JIT-compiled since the counters started (tier-up included): what grows the executable memory.</param>
internal sealed record RuntimeSnapshot(double HeapBytes, double Gen2Bytes, double CommittedBytes, double FragmentationBytes, double JitCompiledMethods);

/// <summary>
/// Reads the proxy's <c>System.Runtime</c> meter with <c>dotnet-counters collect --format csv</c> (the NuGet tool, run
/// as its own process against the proxy's pid): the GC heap after the last collection per generation and the GC's
/// committed bytes, which the proxy's own <c>/metrics</c> (prometheus-net's <c>dotnet_*</c>) does not carry. Optional:
/// without the tool the soak reports RSS and the <c>/metrics</c> series only.
/// </summary>
internal sealed class RuntimeCounters : IAsyncDisposable
{
    private const string HeapSize = "dotnet.gc.last_collection.heap.size (By)[gc.heap.generation=";
    private const string Fragmentation = "dotnet.gc.last_collection.heap.fragmentation.size (By)[gc.heap.generation=";
    private const string Committed = "dotnet.gc.last_collection.memory.committed_size (By)";
    private const string JitCompiled = "dotnet.jit.compiled_methods (";

    private readonly ChildProcess tool;
    private readonly string csvPath;
    private readonly Dictionary<string, double> latest = new(StringComparer.Ordinal);
    private double jitCompiledMethods;
    private long readOffset;
    private string partialLine = "";

    private RuntimeCounters(ChildProcess tool, string csvPath)
    {
        this.tool = tool;
        this.csvPath = csvPath;
    }

    /// <summary><paramref name="name"/> in <paramref name="toolsDirectory"/>, on PATH or in ~/.dotnet/tools; null when none.</summary>
    public static string? FindTool(string name, string? toolsDirectory)
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var candidates = new[] { toolsDirectory, Path.Combine(home, ".dotnet", "tools") }
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            .Where(directory => !string.IsNullOrEmpty(directory))
            .Select(directory => Path.Combine(directory!, name));
        return candidates.FirstOrDefault(File.Exists);
    }

    public static RuntimeCounters Start(string toolPath, int pid, TimeSpan interval, string workDirectory)
    {
        var csv = Path.Combine(workDirectory, "dotnet-counters.csv");
        var seconds = Math.Max(1, (int)interval.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        var process = ChildProcess.Start(
            toolPath,
            ["collect", "-p", pid.ToString(CultureInfo.InvariantCulture), "--counters", "System.Runtime", "--format", "csv", "-o", csv, "--refresh-interval", seconds],
            Path.Combine(workDirectory, "dotnet-counters.log"));
        return new RuntimeCounters(process, csv);
    }

    /// <summary>The values of the lines written since the last call, merged into the latest seen; null before the first report.</summary>
    public RuntimeSnapshot? Latest()
    {
        if (!File.Exists(csvPath))
        {
            return null;
        }

        using (var stream = new FileStream(csvPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            stream.Seek(readOffset, SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var text = partialLine + reader.ReadToEnd();
            readOffset = stream.Position;
            var lines = text.Split('\n');
            partialLine = lines[^1];
            foreach (var line in lines[..^1])
            {
                Parse(line.TrimEnd('\r'));
            }
        }

        if (!latest.TryGetValue(Committed, out var committed))
        {
            return null;
        }

        double heap = 0, gen2 = 0, fragmentation = 0;
        foreach (var (name, value) in latest)
        {
            if (name.StartsWith(HeapSize, StringComparison.Ordinal))
            {
                heap += value;
                gen2 += name.EndsWith("=gen2]", StringComparison.Ordinal) ? value : 0;
            }
            else if (name.StartsWith(Fragmentation, StringComparison.Ordinal))
            {
                fragmentation += value;
            }
        }

        return new RuntimeSnapshot(heap, gen2, committed, fragmentation, jitCompiledMethods);
    }

    /// <summary>Timestamp,Provider,Counter Name,Counter Type,Mean/Increment — the name may hold commas in its tags.</summary>
    private void Parse(string line)
    {
        var afterProvider = line.IndexOf(',', line.IndexOf(',', StringComparison.Ordinal) + 1);
        var beforeValue = line.LastIndexOf(',');
        var beforeType = beforeValue > 0 ? line.LastIndexOf(',', beforeValue - 1) : -1;
        if (afterProvider < 0 || beforeType <= afterProvider
            || !double.TryParse(line.AsSpan(beforeValue + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return; // the header, or a line cut short
        }

        var name = line[(afterProvider + 1)..beforeType];
        if (name.StartsWith(JitCompiled, StringComparison.Ordinal))
        {
            jitCompiledMethods += value; // a rate: methods per refresh interval
        }

        latest[name] = value;
    }

    public ValueTask DisposeAsync() => tool.DisposeAsync();
}
