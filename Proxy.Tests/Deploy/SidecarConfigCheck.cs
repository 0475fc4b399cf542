using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Tests.Deploy;

/// <summary>
/// A deployment's sidecar configuration checked by the proxy itself: built exactly as at start-up (every validator,
/// YARP's included) from the file and the environment the layout gives it, without binding any port.
/// </summary>
public static class SidecarConfigCheck
{
    /// <returns>The proxy's problems with it; empty when it would start.</returns>
    public static async Task<IReadOnlyList<string>> ProblemsAsync(string json, IReadOnlyDictionary<string, string> environment)
    {
        var directory = Directory.CreateTempSubdirectory("proxymesh-layout-").FullName;
        try
        {
            var file = Path.Combine(directory, "sidecar.json");
            await File.WriteAllTextAsync(file, json);
            string[] args = ["--config", file, .. environment.Select(pair => $"--{pair.Key.Replace("__", ":", StringComparison.Ordinal)}={pair.Value}")];
            var app = ProxyMeshApplication.Build(args, directory);
            await app.DisposeAsync();
            return [];
        }
        catch (InvalidConfigurationException e)
        {
            return e.Problems.ToArray();
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
