namespace ProxyMesh.Proxy.Admin;

/// <summary><c>ProxyMesh:Admin</c>: the admin listener, loopback only unless configured otherwise.</summary>
public sealed class AdminOptions
{
    public const string DefaultUrl = "http://127.0.0.1:9901";

    public string Url { get; set; } = DefaultUrl;
}
