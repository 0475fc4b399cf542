using System.Globalization;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Resilience;

/// <summary>
/// Validates one resilience policy in <c>ProxyMesh:Defaults:&lt;Policy&gt;</c> and in every
/// <c>ProxyMesh:Clusters:&lt;cluster&gt;:&lt;Policy&gt;</c>: unknown keys, unreadable values and out-of-range values,
/// one line per problem naming the key. Each layer is checked on its own (code defaults are valid).
/// </summary>
internal abstract class ClusterPolicyValidator<T> : IConfigurationValidator
    where T : class, new()
{
    private static readonly System.Reflection.PropertyInfo[] Properties = typeof(T).GetProperties();

    protected abstract string Policy { get; }

    public virtual void Validate(IConfiguration candidate, List<string> problems)
    {
        ValidateSection(candidate.GetSection($"{ClusterPolicies.DefaultsSection}:{Policy}"), problems);
        foreach (var cluster in ClusterPolicies.ConfiguredClusters(candidate))
        {
            ValidateSection(candidate.GetSection($"{ClusterPolicies.ClustersSection}:{cluster}:{Policy}"), problems);
        }
    }

    /// <summary>Adds one line per out-of-range value, each starting with <paramref name="prefix"/><c>:&lt;Key&gt;</c>.</summary>
    protected abstract void Check(T options, string prefix, List<string> problems);

    private void ValidateSection(IConfigurationSection section, List<string> problems)
    {
        if (!section.Exists())
        {
            return;
        }

        var readable = true;
        foreach (var child in section.GetChildren())
        {
            var property = Array.Find(Properties, p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null)
            {
                problems.Add($"{child.Path}: unknown key (known: {string.Join(", ", Properties.Select(p => p.Name))})");
                readable = false;
                continue;
            }

            try
            {
                section.GetValue(property.PropertyType, property.Name);
            }
            catch (InvalidOperationException)
            {
                problems.Add($"{child.Path}: '{child.Value}' is not a valid {Describe(property.PropertyType)}");
                readable = false;
            }
        }

        if (readable)
        {
            var options = new T();
            section.Bind(options);
            Check(options, section.Path, problems);
        }
    }

    private static string Describe(Type type) =>
        type == typeof(TimeSpan) ? "time span (hh:mm:ss.fff)" : type.Name.ToLower(CultureInfo.InvariantCulture);
}
