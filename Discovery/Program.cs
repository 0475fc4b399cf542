using ProxyMesh.Discovery;
using ProxyMesh.Discovery.Stores;
using ProxyMesh.Proxy.Configuration;

try
{
    await DiscoveryApplication.Build(args).RunAsync();
    return 0;
}
catch (InvalidConfigurationException e)
{
    foreach (var problem in e.Problems)
    {
        Console.Error.WriteLine($"Discovery: invalid configuration: {problem}");
    }

    return 1;
}
catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    Console.Error.WriteLine($"Discovery: cannot listen: {e.Message}");
    return 1;
}
catch (RegistrationStoreException e)
{
    Console.Error.WriteLine($"Discovery: cannot start: {e.Message}");
    return 1;
}
