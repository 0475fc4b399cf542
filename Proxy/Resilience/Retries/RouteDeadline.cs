namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// A request's deadline, also cancelled when the client goes away. It remembers which came first, because an abort
/// that follows the deadline (YARP aborts the client connection when a started response is cut short, and Kestrel
/// raises <c>RequestAborted</c> for it on the thread pool, later) must not turn a timeout into a client cancellation.
/// </summary>
internal sealed class RouteDeadline(TimeSpan limit, TimeProvider time) : CancellationTokenSource(limit, time)
{
    private int _clientLeftFirst;

    /// <summary>The deadline expired before the client went away.</summary>
    public bool Expired => IsCancellationRequested && Volatile.Read(ref _clientLeftFirst) == 0;

    /// <summary>Cancels on behalf of a client that went away, unless the deadline has already expired.</summary>
    public static void CancelForClient(object? state)
    {
        var deadline = (RouteDeadline)state!;
        if (!deadline.IsCancellationRequested)
        {
            Volatile.Write(ref deadline._clientLeftFirst, 1);
            deadline.Cancel();
        }
    }
}
