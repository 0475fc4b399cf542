namespace ProxyMesh.Proxy.Tcp.Transport;

/// <summary>How <c>tcp://</c> listeners accept and read their connections (<c>ProxyMesh:TcpTransport</c>, read at start-up).</summary>
public sealed record TcpTransportOptions
{
    public const string SectionName = "ProxyMesh:TcpTransport";

    /// <summary>Accept TCP listeners' connections with Kestrel's socket transport, as HTTP listeners (4 KB reads).</summary>
    public bool UseKestrel { get; init; }

    /// <summary>Bytes one receive from a client may fill: a 64 KB read moves a bulk transfer in a sixteenth of the calls a 4 KB one needs.</summary>
    public int ReceiveBufferSize { get; init; } = 64 * 1024;

    /// <summary>Client bytes buffered ahead of the upstream before the proxy stops reading the client (backpressure).</summary>
    public int MaxReadBufferSize { get; init; } = 1024 * 1024;

    /// <summary>
    /// Run the relay of plain (non-TLS) connections on the socket engine's event thread, as each socket read completes,
    /// instead of queueing every completion to the thread pool (<see cref="InlineSocketCompletions"/>).
    /// </summary>
    public bool InlineCompletions { get; init; } = true;
}
