namespace ProxyMesh.Discovery.Configuration;

/// <summary>The <c>Discovery</c> configuration section, read once at start-up.</summary>
public sealed class DiscoveryOptions
{
    public const string SectionName = "Discovery";
    public const string DefaultUrl = "http://127.0.0.1:9800";

    /// <summary>The listen address, for the API, <c>/ready</c> and <c>/metrics</c>.</summary>
    public string Url { get; init; } = DefaultUrl;

    /// <summary>The environment named in every answer (<c>env</c>).</summary>
    public string Env { get; init; } = "production";

    public StoreKind Store { get; init; } = StoreKind.Embedded;

    /// <summary>A host whose last check-in is older than this is left out of answers.</summary>
    public TimeSpan HostTtl { get; init; } = TimeSpan.FromSeconds(600);

    /// <summary>How long a service's view is answered from memory before the store is read again.</summary>
    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromSeconds(30);

    public DynamoDbOptions DynamoDb { get; init; } = new();

    public EmbeddedStoreOptions Embedded { get; init; } = new();
}
