using ProxyMesh.Discovery.Registrations;

namespace ProxyMesh.Discovery.Stores;

/// <summary>
/// Where registrations live. A store keeps what hosts sent and never decides liveness: expiry is applied when
/// answering. A store that cannot serve (outage, throttling) throws <see cref="RegistrationStoreException"/>.
/// </summary>
public interface IRegistrationStore
{
    /// <summary>Every registration kept for the service, live or not (an eventually consistent read).</summary>
    Task<IReadOnlyList<HostRegistration>> ListAsync(string service, CancellationToken cancellationToken);

    /// <summary>Creates or replaces the registration of <see cref="HostRegistration.Endpoint"/> in its service.</summary>
    Task PutAsync(HostRegistration host, CancellationToken cancellationToken);

    /// <returns>Whether there was such a registration.</returns>
    Task<bool> DeleteAsync(string service, string endpoint, CancellationToken cancellationToken);
}
