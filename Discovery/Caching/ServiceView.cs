using ProxyMesh.Discovery.Registrations;

namespace ProxyMesh.Discovery.Caching;

/// <summary>A service's live hosts as answered now; <see cref="Stale"/> when the store could not be read.</summary>
public sealed record ServiceView(IReadOnlyList<HostRegistration> Hosts, bool Stale);
