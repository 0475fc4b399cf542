namespace ProxyMesh.Discovery.Configuration;

/// <summary><c>Discovery:Store</c>: where registrations live.</summary>
public enum StoreKind
{
    /// <summary>In memory, persisted to a local JSON file: nothing to install.</summary>
    Embedded,

    /// <summary>An Amazon DynamoDB table (or a DynamoDB-compatible server at <c>Discovery:DynamoDb:ServiceUrl</c>).</summary>
    DynamoDb,
}
