using ProxyMesh.Proxy;
using ProxyMesh.Proxy.Configuration;

try
{
    await ProxyMeshApplication.Build(args).RunAsync();
    return 0;
}
catch (InvalidConfigurationException e)
{
    foreach (var problem in e.Problems)
    {
        Console.Error.WriteLine($"ProxyMesh: invalid configuration: {problem}");
    }

    return 1;
}
catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    Console.Error.WriteLine($"ProxyMesh: cannot listen: {e.Message}");
    return 1;
}
