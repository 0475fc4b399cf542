using System.Buffers;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Makes one <see cref="ITcpFilter"/> per connection for the TCP listeners whose <c>Filters</c> list names it,
/// as Envoy's network filter factories do. Registered in DI as <see cref="ITcpFilterFactory"/>.
/// </summary>
public interface ITcpFilterFactory
{
    /// <summary>The name a listener's <c>Filters</c> list uses, e.g. <c>Mongo</c>.</summary>
    string Name { get; }

    /// <summary>Checks this filter's options for one listener (its <c>ProxyMesh:Listeners:&lt;name&gt;</c> section); adds one line per problem.</summary>
    void Validate(string listenerName, IConfigurationSection listener, ICollection<string> problems);

    /// <summary>The filter for one new downstream connection; called before any byte is forwarded.</summary>
    ITcpFilter Create(TcpFilterContext context);
}

/// <summary>What a filter knows of its connection.</summary>
/// <param name="ListenerName">The listener's name (a stats label).</param>
/// <param name="Listener">The listener's configuration section as of the connection's start (filter options live under it, e.g. <c>Mongo</c>).</param>
/// <param name="ConnectionId">Kestrel's connection id, for logs.</param>
public sealed record TcpFilterContext(string ListenerName, IConfigurationSection Listener, string ConnectionId);

/// <summary>
/// A network filter: sees the bytes of one proxied connection in each direction, in place, as they are forwarded.
/// The proxy calls each filter with every buffer before it forwards that buffer; the buffer is only valid during
/// the call (copy the few bytes you must keep across buffers, never a whole frame). A filter never changes the
/// bytes and never holds them back except by delaying (fault injection) or closing. It never blocks (a delay awaits):
/// on listeners without TLS it is called on .NET's socket event thread, which serves every socket of the process.
/// </summary>
public interface ITcpFilter : IDisposable
{
    /// <summary>Bytes read from the downstream client, about to be sent upstream.</summary>
    ValueTask<TcpFilterVerdict> OnDownstreamDataAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken);

    /// <summary>Bytes read from the upstream server, about to be sent to the client.</summary>
    TcpFilterVerdict OnUpstreamData(ReadOnlySequence<byte> data);

    /// <summary>The connection has ended (both sides are closed); called once, before <see cref="IDisposable.Dispose"/>.</summary>
    void OnClosed(TcpCloseInitiator initiator);
}

/// <summary>Which side ended a connection, as Envoy's connection events that network filters see.</summary>
public enum TcpCloseInitiator
{
    /// <summary>Envoy's <c>LocalClose</c>: the proxy closed the client's connection — the upstream ended first, or a timeout, the drain deadline, a filter or shutdown ended it.</summary>
    Local,

    /// <summary>Envoy's <c>RemoteClose</c>: the client ended the connection first (a FIN or a reset).</summary>
    Remote,
}

/// <summary>What the proxy does with the buffer a filter has seen.</summary>
public enum TcpFilterVerdict
{
    /// <summary>Forward it.</summary>
    Continue,

    /// <summary>Close both sides of the connection without forwarding it (the filter has logged and counted why).</summary>
    Close,
}
