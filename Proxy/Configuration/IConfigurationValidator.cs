namespace ProxyMesh.Proxy.Configuration;

/// <summary>Checks a candidate configuration before anything serves it, at start-up and on every reload.</summary>
public interface IConfigurationValidator
{
    /// <summary>Adds one line per problem, each starting with the configuration key it is about.</summary>
    void Validate(IConfiguration candidate, List<string> problems);
}
