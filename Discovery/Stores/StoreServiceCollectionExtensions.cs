using Amazon.DynamoDBv2;
using ProxyMesh.Discovery.Configuration;

namespace ProxyMesh.Discovery.Stores;

public static class StoreServiceCollectionExtensions
{
    /// <summary>The registration store that <c>Discovery:Store</c> names.</summary>
    public static IServiceCollection AddDiscoveryStore(this IServiceCollection services, DiscoveryOptions options)
    {
        switch (options.Store)
        {
            case StoreKind.DynamoDb:
                services.AddSingleton<IAmazonDynamoDB>(_ => DynamoDbClientFactory.Create(options.DynamoDb));
                services.AddSingleton<IRegistrationStore, DynamoDbRegistrationStore>();
                services.AddHostedService<DynamoDbTableSetup>();
                break;
            default:
                services.AddSingleton<IRegistrationStore, EmbeddedRegistrationStore>();
                break;
        }

        return services;
    }
}
