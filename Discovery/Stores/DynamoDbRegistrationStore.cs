using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using ProxyMesh.Discovery.Configuration;
using ProxyMesh.Discovery.Registrations;

namespace ProxyMesh.Discovery.Stores;

/// <summary>
/// Registrations in one DynamoDB table (see <see cref="DynamoDbHostItem"/>): a read is one eventually consistent
/// Query on the service's partition, a check-in one PutItem, a deregistration one DeleteItem.
/// </summary>
internal sealed class DynamoDbRegistrationStore(IAmazonDynamoDB client, DiscoveryOptions options) : IRegistrationStore
{
    private readonly string _table = options.DynamoDb.Table;

    public async Task<IReadOnlyList<HostRegistration>> ListAsync(string service, CancellationToken cancellationToken)
    {
        var hosts = new List<HostRegistration>();
        Dictionary<string, AttributeValue>? startKey = null;
        do
        {
            var request = new QueryRequest
            {
                TableName = _table,
                ConsistentRead = false,
                KeyConditionExpression = "#service = :service",
                ExpressionAttributeNames = new Dictionary<string, string> { ["#service"] = DynamoDbHostItem.PartitionKey },
                ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":service"] = new() { S = service } },
                ExclusiveStartKey = startKey,
            };
            var response = await Guard(() => client.QueryAsync(request, cancellationToken), cancellationToken);
            foreach (var item in response.Items ?? [])
            {
                if (DynamoDbHostItem.FromItem(item) is { } host)
                {
                    hosts.Add(host);
                }
            }

            startKey = response.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (startKey is not null);

        return hosts;
    }

    public Task PutAsync(HostRegistration host, CancellationToken cancellationToken) =>
        Guard(
            () => client.PutItemAsync(new PutItemRequest { TableName = _table, Item = DynamoDbHostItem.ToItem(host, options.HostTtl) }, cancellationToken),
            cancellationToken);

    public async Task<bool> DeleteAsync(string service, string endpoint, CancellationToken cancellationToken)
    {
        var request = new DeleteItemRequest { TableName = _table, Key = DynamoDbHostItem.Key(service, endpoint), ReturnValues = ReturnValue.ALL_OLD };
        var response = await Guard(() => client.DeleteItemAsync(request, cancellationToken), cancellationToken);
        return response.Attributes is { Count: > 0 };
    }

    /// <summary>Turns every way DynamoDB can fail to serve (throttling, errors, unreachable, timeouts) into a store error.</summary>
    internal static async Task<T> Guard<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (IsStoreFailure(e, cancellationToken))
        {
            throw new RegistrationStoreException(Describe(e), e);
        }
    }

    private static bool IsStoreFailure(Exception e, CancellationToken cancellationToken) =>
        e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException or TimeoutException
        || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private static string Describe(Exception e) => e switch
    {
        AmazonServiceException service when !string.IsNullOrEmpty(service.ErrorCode) => $"DynamoDB {service.ErrorCode}: {service.Message}",
        _ => $"DynamoDB unreachable: {e.GetBaseException().Message}",
    };
}
