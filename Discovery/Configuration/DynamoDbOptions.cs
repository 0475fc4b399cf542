namespace ProxyMesh.Discovery.Configuration;

/// <summary><c>Discovery:DynamoDb</c>: the table and how to reach it; credentials come from the standard AWS chain.</summary>
public sealed class DynamoDbOptions
{
    public const string DefaultTable = "proxymesh-registrations";

    /// <summary>A DynamoDB-compatible endpoint such as <c>http://127.0.0.1:8000</c>; null for AWS itself.</summary>
    public Uri? ServiceUrl { get; init; }

    /// <summary>The AWS region, e.g. <c>us-east-1</c>; null to take it from the standard AWS chain.</summary>
    public string? Region { get; init; }

    public string Table { get; init; } = DefaultTable;

    /// <summary>Create the table (and enable its TTL attribute) at start-up when missing: for development.</summary>
    public bool CreateTable { get; init; }
}
