namespace ProxyMesh.Discovery.Registrations;

/// <summary>
/// The answer to <c>GET /v1/registration/{service}</c>. <see cref="Stale"/> is true only when the store could not be
/// read and the last view is answered instead; it is left out otherwise.
/// </summary>
public sealed record ServiceAnswer(string Service, string Env, IReadOnlyList<HostRegistration> Hosts, bool? Stale);
