using System.Globalization;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>RSS and CPU time of a process, from /proc (Linux).</summary>
internal static class ProcessStats
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>CPU seconds (user + system) of the process and the threads it has reaped, e.g. nginx's workers are separate processes: pass each.</summary>
    public static double CpuSeconds(IEnumerable<int> pids)
    {
        var total = 0.0;
        foreach (var pid in pids)
        {
            string stat;
            try
            {
                stat = File.ReadAllText($"/proc/{pid}/stat");
            }
            catch (IOException)
            {
                continue; // exited since the tree was listed
            }

            // Fields after the command name, which is in parentheses and may contain spaces.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            total += (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }

        return total;
    }

    public static long RssBytes(IEnumerable<int> pids) => pids.Sum(pid => StatusKilobytes(pid, "VmRSS:") * 1024);

    public static long PeakRssBytes(IEnumerable<int> pids) => pids.Sum(pid => StatusKilobytes(pid, "VmHWM:") * 1024);

    /// <summary>The process and its children (nginx and haproxy master/workers).</summary>
    public static IReadOnlyList<int> Tree(int pid)
    {
        var result = new List<int> { pid };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var child) && child != pid && ParentOf(child) == pid)
            {
                result.Add(child);
            }
        }

        return result;
    }

    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return -1;
        }
    }

    /// <returns>The field's value, or 0 when the process has already exited (a short-lived child).</returns>
    private static long StatusKilobytes(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }
}
