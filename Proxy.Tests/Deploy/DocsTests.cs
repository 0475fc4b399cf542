extern alias discovery;

using System.Reflection;
using System.Text.RegularExpressions;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Tests.Infrastructure;
using DiscoveryServiceOptions = discovery::ProxyMesh.Discovery.Configuration.DiscoveryOptions;

namespace ProxyMesh.Proxy.Tests.Deploy;

/// <summary>The documentation keeps up with the code: every configuration key the code binds is in docs/configuration.md, every link resolves.</summary>
public sealed partial class DocsTests
{
    private static readonly string Configuration = File.ReadAllText(Repository.PathOf("docs", "configuration.md"));

    /// <summary>Pages of features being built alongside (TCP, MongoDB, gRPC-Web, transcoding): linked before they land.</summary>
    private static readonly HashSet<string> PagesInProgress = ["tcp.md", "mongo.md", "grpc.md", "grpc-transcoding.md"];

    /// <summary>Options classes bound to a configuration section: each has a <c>SectionName</c> constant.</summary>
    public static TheoryData<string> BoundKeys()
    {
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var assembly in new[] { typeof(ProxyMeshOptions).Assembly, typeof(DiscoveryServiceOptions).Assembly })
        {
            foreach (var type in assembly.GetTypes())
            {
                if (type.GetField("SectionName", BindingFlags.Public | BindingFlags.Static) is { IsLiteral: true } section
                    && type.Name.EndsWith("Options", StringComparison.Ordinal))
                {
                    AddKeys(keys, (string)section.GetRawConstantValue()!, type);
                }
            }
        }

        // Resilience policies: ProxyMesh:Defaults:<Policy>:<Key> and ProxyMesh:Clusters:<cluster>:<Policy>:<Key>. Each policy is
        // an options class under Resilience/ whose Name (or PolicyName) constant is its section.
        foreach (var type in typeof(ClusterPolicies).Assembly.GetTypes().Where(t => t.Namespace?.StartsWith(typeof(ClusterPolicies).Namespace!, StringComparison.Ordinal) == true))
        {
            var name = (type.GetField("Name") ?? type.GetField("PolicyName"))?.GetRawConstantValue() as string;
            if (name is null || name.StartsWith("ProxyMesh.", StringComparison.Ordinal) || !(type.Name.EndsWith("Policy", StringComparison.Ordinal) || type.Name.EndsWith("Options", StringComparison.Ordinal)))
            {
                continue;
            }

            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
            {
                keys.Add($"{name}:{property.Name}");
            }
        }

        keys.Add(ClusterPolicies.DefaultsSection);
        keys.Add(ClusterPolicies.ClustersSection);
        var data = new TheoryData<string>();
        foreach (var key in keys)
        {
            data.Add(key);
        }

        return data;
    }

    /// <summary>Route and cluster metadata keys the code reads (constants named <c>ProxyMesh.…</c>).</summary>
    public static TheoryData<string> MetadataKeys()
    {
        var data = new TheoryData<string>();
        var policyNames = new HashSet<string>(StringComparer.Ordinal) { "ProxyMesh.OutlierDetection", "ProxyMesh.PanicThreshold", "ProxyMesh.HealthCheck" };
        foreach (var field in typeof(ProxyMeshOptions).Assembly.GetTypes().SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)))
        {
            if (field.IsLiteral && field.GetRawConstantValue() is string value && value.StartsWith("ProxyMesh.", StringComparison.Ordinal)
                && !policyNames.Contains(value))
            {
                data.Add(value);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BoundKeys))]
    public void Every_bound_configuration_key_is_documented(string key)
    {
        // A section bound per name (CORS policies, listeners' filter options) is documented with its placeholder, e.g.
        // `ProxyMesh:Cors:<policy>:MaxAge` or `ProxyMesh:Listeners:<name>:Mongo:MaxMessageSize`.
        // A record's name taken from its section key (a transcoder's Name) is that placeholder: `ProxyMesh:GrpcTranscoding:<name>`.
        var parts = key.Split(':');
        var pattern = "`([^`]*:)?" + string.Join(":(<[a-z]+>:)?", parts.Select(System.Text.RegularExpressions.Regex.Escape)) + "`";
        var asPlaceholder = $"`{string.Join(':', parts[..^1])}:<{parts[^1].ToLowerInvariant()}>";
        Assert.True(
            System.Text.RegularExpressions.Regex.IsMatch(Configuration, pattern) || Configuration.Contains(asPlaceholder, StringComparison.Ordinal),
            $"docs/configuration.md does not mention `{key}`");
    }

    [Theory]
    [MemberData(nameof(MetadataKeys))]
    public void Every_metadata_key_and_policy_name_is_documented(string key) =>
        Assert.True(Configuration.Contains(key, StringComparison.Ordinal), $"docs/configuration.md does not mention {key}");

    [Fact]
    public void Tables_render_no_row_is_cut_off_from_its_header()
    {
        var lines = Configuration.Split('\n');
        for (var i = 1; i < lines.Length; i++)
        {
            if (lines[i].StartsWith('|') && !lines[i - 1].StartsWith('|'))
            {
                Assert.True(i + 1 < lines.Length && lines[i + 1].StartsWith("| ---", StringComparison.Ordinal), $"line {i + 1} starts a table without a header: {lines[i]}");
            }
        }
    }

    [Fact]
    public void Readme_keeps_the_two_commands_and_lists_every_test_prerequisite()
    {
        var readme = File.ReadAllText(Repository.PathOf("README.md"));
        Assert.Contains("dotnet run --project Demo", readme, StringComparison.Ordinal);
        Assert.Contains("dotnet test ProxyMesh.sln", readme, StringComparison.Ordinal); // .ci/run runs it verbatim
        Assert.Contains("dotnet test ProxyMesh.sln", File.ReadAllText(Repository.PathOf(".ci", "run")), StringComparison.Ordinal);
        foreach (var tool in new[] { "curl", "node", "npm", "promtool", "bash" })
        {
            Assert.Contains($"`{tool}`", readme, StringComparison.Ordinal);
        }

        Assert.True(readme.Length < 12_000, $"README is {readme.Length} characters: reference material belongs in docs/");
    }

    [Fact]
    public void Every_relative_link_in_readme_and_docs_resolves()
    {
        var files = new[] { Repository.PathOf("README.md") }.Concat(Directory.EnumerateFiles(Repository.PathOf("docs"), "*.md"));
        foreach (var file in files)
        {
            foreach (Match link in Link().Matches(File.ReadAllText(file)))
            {
                var target = link.Groups[1].Value;
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith('#'))
                {
                    continue;
                }

                var path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, target.Split('#')[0]));
                if (PagesInProgress.Contains(target.Split('#')[0]) && Path.GetFileName(file) == "coming-from-envoy.md")
                {
                    continue;
                }

                Assert.True(Path.Exists(path), $"{Path.GetRelativePath(Repository.Root, file)} links to {target}, which does not exist");
            }
        }
    }

    private static void AddKeys(SortedSet<string> keys, string prefix, Type type)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite || p.PropertyType.IsClass))
        {
            var key = $"{prefix}:{property.Name}";
            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(Dictionary<,>))
            {
                AddKeys(keys, $"{key}:<name>", propertyType.GetGenericArguments()[1]);
            }
            else if (propertyType.IsClass && propertyType != typeof(string) && propertyType != typeof(Uri) && propertyType.Namespace!.StartsWith("ProxyMesh", StringComparison.Ordinal))
            {
                AddKeys(keys, key, propertyType);
            }
            else if (property.CanWrite || property.GetSetMethod() is not null || property.SetMethod is not null)
            {
                keys.Add(key);
            }
        }
    }

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex Link();
}
