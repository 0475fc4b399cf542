namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary><c>ProxyMesh:AccessLog</c>: one JSON line per request, written off the request path.</summary>
public sealed class AccessLogOptions
{
    public const string SectionName = "ProxyMesh:AccessLog";

    public bool Enabled { get; set; } = true;

    /// <summary>File to append to; empty for standard output.</summary>
    public string Path { get; set; } = "";

    /// <summary>Fraction of requests logged (0 to 1), decided by a hash of the request id so every hop logs the same ones. Errors are always logged.</summary>
    public double SampleRate { get; set; } = 1.0;

    /// <summary>Entries waiting to be written; when full, new entries are dropped and counted rather than slowing requests.</summary>
    public int QueueCapacity { get; set; } = 8192;
}
