using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;

namespace ProxyMesh.Bench.DiscoveryScale;

/// <summary>
/// What one store read of a service costs in DynamoDB read capacity units: the service's Query (eventually consistent,
/// as the store sends it) repeated with <c>ReturnConsumedCapacity = TOTAL</c>, which dynalite computes as DynamoDB
/// does — the sizes of the items read, summed and rounded up to 4 KB, 0.5 RCU per 4 KB. The item size is estimated
/// apart with DynamoDB's sizing rules (attribute names plus values), for the report.
/// </summary>
internal static class ReadUnits
{
    public static async Task<(double UnitsPerRead, double ItemBytes)> MeasureAsync(Uri dynamoDb, string table, IReadOnlyList<string> services)
    {
        var config = new AmazonDynamoDBConfig { ServiceURL = dynamoDb.ToString(), AuthenticationRegion = "us-east-1" };
        using var client = new AmazonDynamoDBClient(new BasicAWSCredentials("bench", "bench"), config);
        double units = 0, bytes = 0, items = 0;
        foreach (var service in services)
        {
            var response = await client.QueryAsync(new QueryRequest
            {
                TableName = table,
                ConsistentRead = false,
                KeyConditionExpression = "#service = :service",
                ExpressionAttributeNames = new Dictionary<string, string> { ["#service"] = "service" },
                ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":service"] = new() { S = service } },
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            });
            units += response.ConsumedCapacity?.CapacityUnits ?? 0;
            foreach (var item in response.Items ?? [])
            {
                bytes += ItemSize(item);
                items++;
            }
        }

        return (units / services.Count, items == 0 ? 0 : bytes / items);
    }

    /// <summary>DynamoDB's item size: each attribute's name plus its value (numbers ≈ 1 byte per 2 digits + 1).</summary>
    private static double ItemSize(Dictionary<string, AttributeValue> item) =>
        item.Sum(attribute => Encoding.UTF8.GetByteCount(attribute.Key) + ValueSize(attribute.Value));

    private static double ValueSize(AttributeValue value) => value switch
    {
        { S: { } text } => Encoding.UTF8.GetByteCount(text),
        { N: { } number } => Math.Ceiling(number.Count(char.IsDigit) / 2.0) + 1,
        { BOOL: not null } => 1,
        { M: { Count: > 0 } map } => 3 + map.Sum(entry => 1 + Encoding.UTF8.GetByteCount(entry.Key) + ValueSize(entry.Value)),
        _ => 1,
    };
}
