using System.Net;
using Amazon;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using ProxyMesh.Discovery.Configuration;

namespace ProxyMesh.Discovery.Stores;

/// <summary>
/// The DynamoDB client. Region and credentials come from the standard AWS chain (environment, profile, instance
/// role) unless <c>Region</c> is set. A <c>ServiceUrl</c> on a loopback address is a local DynamoDB-compatible
/// server: it takes the credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when set and placeholder ones
/// otherwise (such servers do not check them), so nothing probes for an instance role.
/// </summary>
internal static class DynamoDbClientFactory
{
    private const string LocalRegion = "us-east-1";

    public static AmazonDynamoDBClient Create(DynamoDbOptions options)
    {
        var config = new AmazonDynamoDBConfig
        {
            // Fail fast enough that a read can fall back to the last view while callers still wait.
            Timeout = TimeSpan.FromSeconds(5),
            ConnectTimeout = TimeSpan.FromSeconds(2),
            MaxErrorRetry = 2,
        };
        if (options.ServiceUrl is not null)
        {
            config.ServiceURL = options.ServiceUrl.ToString();
            config.AuthenticationRegion = options.Region ?? LocalRegion;
        }
        else if (options.Region is not null)
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        if (options.ServiceUrl is { } url && IsLoopback(url))
        {
            var key = Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");
            var secret = Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
            var credentials = string.IsNullOrEmpty(key) || string.IsNullOrEmpty(secret)
                ? new BasicAWSCredentials("local", "local")
                : new BasicAWSCredentials(key, secret);
            return new AmazonDynamoDBClient(credentials, config);
        }

        return new AmazonDynamoDBClient(config);
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.DnsSafeHost, out var address) && IPAddress.IsLoopback(address));
}
