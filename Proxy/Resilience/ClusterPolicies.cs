using System.Collections.Concurrent;
using Microsoft.Extensions.Primitives;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Resilience;

/// <summary>
/// The effective resilience policy of each cluster: mesh-wide defaults from <c>ProxyMesh:Defaults:&lt;Policy&gt;</c>,
/// overridden key by key by <c>ProxyMesh:Clusters:&lt;cluster&gt;:&lt;Policy&gt;</c>. Each policy (retries, timeouts,
/// circuit breakers, outlier detection, rate limiting) is an options class of its own, bound on first use and cached
/// until the validated configuration changes, so a reload applies without a restart.
/// </summary>
public sealed class ClusterPolicies : IDisposable
{
    public const string DefaultsSection = "ProxyMesh:Defaults";
    public const string ClustersSection = "ProxyMesh:Clusters";

    private readonly IConfiguration _configuration;
    private readonly IDisposable _subscription;
    private ConcurrentDictionary<(Type Policy, string Cluster), object> _resolved = new();
    private volatile int _version;

    public ClusterPolicies(ValidatedConfiguration configuration)
    {
        _configuration = configuration.View;
        _subscription = ChangeToken.OnChange(_configuration.GetReloadToken, () =>
        {
            _resolved = new();
            _version++; // After the reset: whoever reads the new version binds from the new configuration.
        });
    }

    /// <summary>Changes on every reload of the validated configuration; what was resolved under an older version may be stale.</summary>
    public int Version => _version;

    /// <summary>The policy <typeparamref name="T"/> of a cluster, under its section name <paramref name="policy"/> (e.g. <c>Retry</c>).</summary>
    public T For<T>(string clusterId, string policy)
        where T : class, new() =>
        (T)_resolved.GetOrAdd((typeof(T), clusterId), static (key, state) => Bind<T>(state.Configuration, key.Cluster, state.Policy), (Configuration: _configuration, Policy: policy));

    /// <summary>Binds defaults, then the cluster's overrides, onto one instance: only keys present in a layer replace.</summary>
    public static T Bind<T>(IConfiguration configuration, string clusterId, string policy)
        where T : class, new()
    {
        var options = new T();
        configuration.GetSection($"{DefaultsSection}:{policy}").Bind(options);
        configuration.GetSection($"{ClustersSection}:{clusterId}:{policy}").Bind(options);
        return options;
    }

    /// <summary>The cluster ids that have a <c>ProxyMesh:Clusters</c> section, for validation.</summary>
    public static IEnumerable<string> ConfiguredClusters(IConfiguration configuration) =>
        configuration.GetSection(ClustersSection).GetChildren().Select(cluster => cluster.Key);

    public void Dispose() => _subscription.Dispose();
}
