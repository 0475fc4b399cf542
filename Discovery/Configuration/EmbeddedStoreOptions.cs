namespace ProxyMesh.Discovery.Configuration;

/// <summary><c>Discovery:Embedded</c>: the local file the embedded store persists to.</summary>
public sealed class EmbeddedStoreOptions
{
    public const string DefaultPath = "data/registrations.json";

    /// <summary>The file; a relative path resolves against the content root.</summary>
    public string Path { get; init; } = DefaultPath;
}
