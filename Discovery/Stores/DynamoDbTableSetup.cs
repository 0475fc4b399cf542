using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using ProxyMesh.Discovery.Configuration;

namespace ProxyMesh.Discovery.Stores;

/// <summary>
/// With <c>Discovery:DynamoDb:CreateTable</c> (development), creates the table before the listener opens, waits
/// until it is active and enables TTL on <c>expires_at</c>. Servers without TTL operations (dynalite) are tolerated:
/// TTL only collects garbage; expiry is decided when answering.
/// </summary>
internal sealed partial class DynamoDbTableSetup(IAmazonDynamoDB client, DiscoveryOptions options, ILogger<DynamoDbTableSetup> logger)
    : IHostedLifecycleService
{
    private static readonly TimeSpan ActiveDeadline = TimeSpan.FromSeconds(60);
    private readonly string _table = options.DynamoDb.Table;

    /// <exception cref="RegistrationStoreException">The table cannot be created.</exception>
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        if (!options.DynamoDb.CreateTable)
        {
            return;
        }

        try
        {
            await DynamoDbRegistrationStore.Guard(() => CreateAsync(cancellationToken), cancellationToken);
            await DynamoDbRegistrationStore.Guard(() => WaitUntilActiveAsync(cancellationToken), cancellationToken);
            await DynamoDbRegistrationStore.Guard(() => EnableTtlAsync(cancellationToken), cancellationToken);
        }
        catch (RegistrationStoreException e)
        {
            throw new RegistrationStoreException(
                $"{DiscoveryOptions.SectionName}:DynamoDb:CreateTable: cannot create table '{_table}': {e.Message}", e.InnerException);
        }
    }

    private async Task<bool> CreateAsync(CancellationToken cancellationToken)
    {
        try
        {
            await client.CreateTableAsync(
                new CreateTableRequest
                {
                    TableName = _table,
                    BillingMode = BillingMode.PAY_PER_REQUEST,
                    KeySchema =
                    [
                        new KeySchemaElement(DynamoDbHostItem.PartitionKey, KeyType.HASH),
                        new KeySchemaElement(DynamoDbHostItem.SortKey, KeyType.RANGE),
                    ],
                    AttributeDefinitions =
                    [
                        new AttributeDefinition(DynamoDbHostItem.PartitionKey, ScalarAttributeType.S),
                        new AttributeDefinition(DynamoDbHostItem.SortKey, ScalarAttributeType.S),
                    ],
                },
                cancellationToken);
            LogCreated(logger, _table);
            return true;
        }
        catch (ResourceInUseException)
        {
            return false; // it exists already (or another instance is creating it)
        }
    }

    private async Task<bool> WaitUntilActiveAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + ActiveDeadline;
        while (true)
        {
            var table = await client.DescribeTableAsync(new DescribeTableRequest { TableName = _table }, cancellationToken);
            if (table.Table.TableStatus == TableStatus.ACTIVE)
            {
                return true;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"table still {table.Table.TableStatus} after {ActiveDeadline.TotalSeconds} s");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    private async Task<bool> EnableTtlAsync(CancellationToken cancellationToken)
    {
        try
        {
            await client.UpdateTimeToLiveAsync(
                new UpdateTimeToLiveRequest
                {
                    TableName = _table,
                    TimeToLiveSpecification = new TimeToLiveSpecification { AttributeName = DynamoDbHostItem.ExpiresAt, Enabled = true },
                },
                cancellationToken);
            return true;
        }
        catch (AmazonDynamoDBException e) when (e.ErrorCode is "UnknownOperationException" or "ValidationException")
        {
            // UnknownOperation: a server without TTL (dynalite); Validation: TTL is already enabled.
            LogTtlNotEnabled(logger, _table, e.Message);
            return false;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Created DynamoDB table {Table}")]
    private static partial void LogCreated(ILogger logger, string table);

    [LoggerMessage(Level = LogLevel.Information, Message = "TTL on table {Table} not enabled ({Reason}); expired registrations are still left out of answers")]
    private static partial void LogTtlNotEnabled(ILogger logger, string table, string reason);
}
