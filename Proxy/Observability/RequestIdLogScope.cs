using System.Collections;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// The log scopes of every logger that takes them (the console logger with <c>IncludeScopes</c>, …): the host's own
/// scopes, then <c>RequestId</c> while a request runs. Pushing a scope per request (<see cref="ILogger.BeginScope"/>)
/// allocates a scope, and changes the execution context twice (in and out); here the request id is one
/// <see cref="AsyncLocal{T}"/> write per request, undone when the request's async frame ends, and the scope object is
/// made only when a line is actually logged.
/// </summary>
/// <param name="scopes">The logger factory's own scopes (with its activity tracking), which every other scope goes to.</param>
internal sealed class RequestIdLogScope(IExternalScopeProvider scopes) : IExternalScopeProvider
{
    private static readonly AsyncLocal<string?> Current = new();

    /// <summary>
    /// Makes <paramref name="id"/> the request id of the log lines of the calling async method and everything it
    /// awaits. The caller must be an <c>async</c> method: its end restores the execution context, and with it the id.
    /// </summary>
    public static void Enter(string id) => Current.Value = id;

    public void ForEachScope<TState>(Action<object?, TState> callback, TState state)
    {
        scopes.ForEachScope(callback, state);
        if (Current.Value is { } id)
        {
            callback(new RequestIdScope(id), state);
        }
    }

    public IDisposable Push(object? state) => scopes.Push(state);

    /// <summary>
    /// The logger factory's own scope provider, as <see cref="LoggerFactory"/> builds it for its
    /// <paramref name="options"/> (activity tracking included): it hands it to any provider that takes external scopes.
    /// </summary>
    public static IExternalScopeProvider FactoryDefault(LoggerFactoryOptions options)
    {
        var receiver = new ScopeReceiver();
        using (LoggerFactory.Create(logging =>
        {
            logging.Configure(factory => factory.ActivityTrackingOptions = options.ActivityTrackingOptions);
            logging.AddProvider(receiver);
        }))
        {
            return receiver.Scopes ?? new LoggerExternalScopeProvider();
        }
    }

    private sealed class ScopeReceiver : ILoggerProvider, ISupportExternalScope
    {
        public IExternalScopeProvider? Scopes { get; private set; }

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => Scopes = scopeProvider;

        public ILogger CreateLogger(string categoryName) => Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public void Dispose()
        {
        }
    }

    /// <summary>The scope's one property, <c>RequestId</c>, as the hosting scope names it.</summary>
    private sealed class RequestIdScope(string id) : IReadOnlyList<KeyValuePair<string, object>>
    {
        public int Count => 1;

        public KeyValuePair<string, object> this[int index] =>
            index == 0 ? new("RequestId", id) : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
        {
            yield return this[0];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"RequestId:{id}";
    }
}
