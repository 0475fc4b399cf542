namespace ProxyMesh.Discovery.Stores;

/// <summary>What the registry asked of its store: the <c>operation</c> label of the store stats.</summary>
public enum StoreOperation
{
    Read,
    Write,
    Delete,
}
