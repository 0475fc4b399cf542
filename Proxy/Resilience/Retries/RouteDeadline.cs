using System.Collections.Concurrent;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// A request's deadline, also cancelled when the client goes away. It remembers which came first, because an abort
/// that follows the deadline (YARP aborts the client connection when a started response is cut short, and Kestrel
/// raises <c>RequestAborted</c> for it on the thread pool, later) must not turn a timeout into a client cancellation.
/// Deadlines are reused (<see cref="Pool"/>): a source, its timer and its registration list cost about 200 B per request.
/// </summary>
internal sealed class RouteDeadline : CancellationTokenSource
{
    private int _clientLeftFirst;

    private RouteDeadline(TimeProvider time)
        : base(Timeout.InfiniteTimeSpan, time)
    {
    }

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

    /// <summary>
    /// Deadlines to reuse, as YARP reuses its own activity timeouts. Only a deadline that neither expired nor was
    /// cancelled comes back: <see cref="CancellationTokenSource.TryReset"/> stops its timer (failing if the timer has
    /// already fired) and removes every registration left on its token, so nothing of one request reaches the next.
    /// </summary>
    public sealed class Pool(TimeProvider time)
    {
        private readonly ConcurrentQueue<RouteDeadline> _free = new();

        /// <summary>Starts a deadline <paramref name="limit"/> from now, cancelled early when <paramref name="client"/> is.</summary>
        public Lease Start(TimeSpan limit, CancellationToken client)
        {
            if (!_free.TryDequeue(out var deadline))
            {
                deadline = new RouteDeadline(time);
            }

            deadline._clientLeftFirst = 0;
            deadline.CancelAfter(limit);
            return new Lease(this, deadline, client.Register(CancelForClient, deadline));
        }

        private void Return(RouteDeadline deadline)
        {
            if (deadline.TryReset())
            {
                _free.Enqueue(deadline);
            }
            else
            {
                deadline.Dispose();
            }
        }

        /// <summary>One request's use of a deadline; disposing it ends the client link, then gives the deadline back.</summary>
        public readonly struct Lease(Pool pool, RouteDeadline deadline, CancellationTokenRegistration clientGone) : IDisposable
        {
            /// <summary>The deadline; null for a request without one (the default lease).</summary>
            public RouteDeadline? Deadline => deadline;

            public void Dispose()
            {
                if (deadline is not null)
                {
                    clientGone.Dispose();
                    pool.Return(deadline);
                }
            }
        }
    }
}
