using System.Globalization;

namespace ProxyMesh.Bench.Soak;

/// <summary>What the proxy process holds at one moment, read from /proc (Linux).</summary>
/// <param name="Elapsed">Time since the load started.</param>
/// <param name="RssBytes">Resident set size (VmRSS): <paramref name="RssAnonBytes"/> + <paramref name="RssFileBytes"/> + <paramref name="RssShmemBytes"/>.</param>
/// <param name="Threads">OS threads.</param>
/// <param name="Handles">Open file descriptors (/proc/pid/fd), sockets included.</param>
/// <param name="TcpConnections">The process's TCP sockets in ESTABLISHED state (its socket inodes in /proc/pid/net/tcp and tcp6).</param>
/// <param name="RssAnonBytes">Resident anonymous memory (RssAnon): the GC heap, native allocations, thread stacks.</param>
/// <param name="RssFileBytes">Resident file-backed pages (RssFile): the mapped assemblies and native libraries.</param>
/// <param name="RssShmemBytes">Resident shared memory (RssShmem): on Linux the runtime's double-mapped executable memory, i.e. JIT-compiled code and stubs.</param>
internal sealed record ProcessSample(
    TimeSpan Elapsed, long RssBytes, int Threads, int Handles, int TcpConnections, long RssAnonBytes, long RssFileBytes, long RssShmemBytes)
{
    /// <summary><c>dotnet_total_memory_bytes</c> from the proxy's /metrics (<c>GC.GetTotalMemory</c>: live objects and garbage not yet collected).</summary>
    public double? TotalMemoryBytes { get; init; }

    /// <summary><c>dotnet_collection_count_total{generation="2"}</c> from the proxy's /metrics.</summary>
    public double? Gen2Collections { get; init; }

    /// <summary>The GC heap as the runtime's meter reported it (dotnet-counters), when the tool is there.</summary>
    public RuntimeSnapshot? Runtime { get; init; }

    private const string Established = "01";

    public static ProcessSample Read(int pid, TimeSpan elapsed)
    {
        long rss = 0, anon = 0, file = 0, shmem = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line);
            }
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
            {
                anon = Kilobytes(line);
            }
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal))
            {
                file = Kilobytes(line);
            }
            else if (line.StartsWith("RssShmem:", StringComparison.Ordinal))
            {
                shmem = Kilobytes(line);
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line[8..].Trim(), CultureInfo.InvariantCulture);
            }
        }

        var handles = 0;
        var socketInodes = new HashSet<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            handles++;
            // "socket:[12345]"; a descriptor closed since the listing has no target any more.
            var target = new FileInfo(fd).LinkTarget;
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
            {
                socketInodes.Add(target[8..^1]);
            }
        }

        var connections = 0;
        foreach (var table in new[] { $"/proc/{pid}/net/tcp", $"/proc/{pid}/net/tcp6" })
        {
            if (!File.Exists(table))
            {
                continue;
            }

            foreach (var line in File.ReadLines(table).Skip(1))
            {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 9 && fields[3] == Established && socketInodes.Contains(fields[9]))
                {
                    connections++;
                }
            }
        }

        return new ProcessSample(elapsed, rss, threads, handles, connections, anon, file, shmem);
    }

    /// <summary>"VmRSS:	  158956 kB" in bytes.</summary>
    private static long Kilobytes(string line) =>
        long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
}
