namespace ProxyMesh.Proxy.Configuration;

/// <summary>Configuration that cannot be served; each problem is one line naming the key and what is wrong.</summary>
public sealed class InvalidConfigurationException(IReadOnlyList<string> problems)
    : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
