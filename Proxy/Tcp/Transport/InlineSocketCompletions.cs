using System.Net.Sockets;
using System.Reflection;

namespace ProxyMesh.Proxy.Tcp.Transport;

/// <summary>
/// Lets one socket's completions run on the .NET socket engine's event thread instead of each being queued to the
/// thread pool: what <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> does for every socket of a process. .NET
/// keeps the same switch per socket (<c>Socket.PreferInlineCompletions</c>: internal, "experimental", preserved for
/// reflection), so the sockets of plain TCP relays use it and HTTP traffic keeps the thread pool. Safe only for code
/// that never blocks and runs briefly per completion: the event thread serves every socket of the process.
/// </summary>
internal static class InlineSocketCompletions
{
    private static readonly Action<Socket, bool>? s_set =
        typeof(Socket).GetProperty("PreferInlineCompletions", BindingFlags.Instance | BindingFlags.NonPublic)?.SetMethod?.CreateDelegate<Action<Socket, bool>>();

    /// <summary>Whether this runtime has the per-socket switch.</summary>
    public static bool Supported => s_set is not null;

    /// <returns>false when this runtime has no per-socket switch: the socket keeps the thread pool.</returns>
    public static bool Enable(Socket socket) => Set(socket, true);

    /// <summary>Back to the thread pool (a relay that turns out to need TLS work per read).</summary>
    public static void Disable(Socket socket) => Set(socket, false);

    private static bool Set(Socket socket, bool inline)
    {
        if (s_set is null)
        {
            return false;
        }

        s_set(socket, inline);
        return true;
    }

    /// <summary>
    /// Whether the caller runs on the socket event thread (not the thread pool). A relay that has just filled its
    /// receive buffer (a bulk transfer) moves to the thread pool with <c>await Task.Yield()</c>: both directions of a
    /// bulk transfer then run in parallel, the reads that follow complete at once there while bytes keep coming, and
    /// the event thread, which serves every socket of the process, stays free for small exchanges.
    /// </summary>
    public static bool OnEventThread => !Thread.CurrentThread.IsThreadPoolThread;

    /// <summary>Marks a connection whose socket completes inline: its relay's upstream socket does too.</summary>
    internal sealed class Feature
    {
        public static readonly Feature Instance = new();

        private Feature()
        {
        }
    }
}
