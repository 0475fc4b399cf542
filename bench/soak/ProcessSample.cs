using System.Globalization;

namespace ProxyMesh.Bench.Soak;

/// <summary>What the proxy process holds at one moment, read from /proc (Linux).</summary>
/// <param name="Elapsed">Time since the load started.</param>
/// <param name="RssBytes">Resident set size (VmRSS).</param>
/// <param name="Threads">OS threads.</param>
/// <param name="Handles">Open file descriptors (/proc/pid/fd), sockets included.</param>
/// <param name="TcpConnections">The process's TCP sockets in ESTABLISHED state (its socket inodes in /proc/pid/net/tcp and tcp6).</param>
internal sealed record ProcessSample(TimeSpan Elapsed, long RssBytes, int Threads, int Handles, int TcpConnections)
{
    private const string Established = "01";

    public static ProcessSample Read(int pid, TimeSpan elapsed)
    {
        var rss = 0L;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
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

        return new ProcessSample(elapsed, rss, threads, handles, connections);
    }
}
