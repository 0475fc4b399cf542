using System.Globalization;
using Amazon.DynamoDBv2.Model;
using ProxyMesh.Discovery.Registrations;

namespace ProxyMesh.Discovery.Stores;

/// <summary>
/// A registration as a DynamoDB item: partition key <c>service</c>, sort key <c>endpoint</c> (<c>ip:port</c>), the
/// check-in time as Unix milliseconds, tags as a map, and <c>expires_at</c> (Unix seconds) for DynamoDB's TTL.
/// </summary>
internal static class DynamoDbHostItem
{
    public const string PartitionKey = "service";
    public const string SortKey = "endpoint";
    public const string ExpiresAt = "expires_at";

    private const string IpAddress = "ip_address";
    private const string Port = "port";
    private const string Revision = "revision";
    private const string ServiceRepoName = "service_repo_name";
    private const string LastCheckIn = "last_check_in";
    private const string Tags = "tags";

    public static Dictionary<string, AttributeValue> Key(string service, string endpoint) => new()
    {
        [PartitionKey] = new AttributeValue { S = service },
        [SortKey] = new AttributeValue { S = endpoint },
    };

    /// <param name="hostTtl">Sets <c>expires_at</c>: when DynamoDB may delete the item (garbage collection only).</param>
    public static Dictionary<string, AttributeValue> ToItem(HostRegistration host, TimeSpan hostTtl)
    {
        var item = Key(host.Service, host.Endpoint);
        item[IpAddress] = new AttributeValue { S = host.IpAddress };
        item[Port] = Number(host.Port);
        item[LastCheckIn] = Number(host.LastCheckIn.ToUnixTimeMilliseconds());
        item[ExpiresAt] = Number((host.LastCheckIn + hostTtl).ToUnixTimeSeconds());
        if (host.Revision.Length > 0)
        {
            item[Revision] = new AttributeValue { S = host.Revision };
        }

        if (host.ServiceRepoName is not null)
        {
            item[ServiceRepoName] = new AttributeValue { S = host.ServiceRepoName };
        }

        var tags = TagsMap(host.Tags);
        if (tags.Count > 0)
        {
            item[Tags] = new AttributeValue { M = tags };
        }

        return item;
    }

    /// <returns>Null for an item this service did not write (missing or malformed attributes).</returns>
    public static HostRegistration? FromItem(Dictionary<string, AttributeValue> item)
    {
        if (String(item, PartitionKey) is not { } service || String(item, IpAddress) is not { } ip
            || Integer(item, Port) is not { } port || Integer(item, LastCheckIn) is not { } lastCheckIn)
        {
            return null;
        }

        var tags = item.TryGetValue(Tags, out var map) && map.M is { } m ? m : [];
        return new HostRegistration(
            ip,
            (int)port,
            DateTimeOffset.FromUnixTimeMilliseconds(lastCheckIn),
            String(item, Revision) ?? "",
            service,
            new HostTags(
                String(tags, "az"),
                String(tags, "region"),
                String(tags, "instance_id"),
                tags.TryGetValue("canary", out var canary) ? canary.BOOL : null,
                Integer(tags, "load_balancing_weight") is { } weight ? (int)weight : null),
            String(item, ServiceRepoName));
    }

    private static Dictionary<string, AttributeValue> TagsMap(HostTags tags)
    {
        var map = new Dictionary<string, AttributeValue>();
        if (tags.Az is not null)
        {
            map["az"] = new AttributeValue { S = tags.Az };
        }

        if (tags.Region is not null)
        {
            map["region"] = new AttributeValue { S = tags.Region };
        }

        if (tags.InstanceId is not null)
        {
            map["instance_id"] = new AttributeValue { S = tags.InstanceId };
        }

        if (tags.Canary is { } canary)
        {
            map["canary"] = new AttributeValue { BOOL = canary };
        }

        if (tags.LoadBalancingWeight is { } weight)
        {
            map["load_balancing_weight"] = Number(weight);
        }

        return map;
    }

    private static AttributeValue Number(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };

    private static string? String(Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out var value) ? value.S : null;

    private static long? Integer(Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out var value) && long.TryParse(value.N, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
            ? number
            : null;
}
