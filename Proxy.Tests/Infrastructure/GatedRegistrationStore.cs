extern alias discovery;

using discovery::ProxyMesh.Discovery.Registrations;
using discovery::ProxyMesh.Discovery.Stores;
using Microsoft.Extensions.DependencyInjection;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>The discovery service's real store, with every read held at a gate until the test opens it, and counted.</summary>
public sealed class GatedRegistrationStore(IRegistrationStore inner, Task gate) : IRegistrationStore
{
    private int _reads;

    /// <summary>Reads started so far (held or not).</summary>
    public int Reads => Volatile.Read(ref _reads);

    /// <summary>Wraps the store the service registered; <paramref name="created"/> receives the wrapper.</summary>
    public static void Wrap(IServiceCollection services, Task gate, Action<GatedRegistrationStore> created)
    {
        var registered = services.Last(service => service.ServiceType == typeof(IRegistrationStore));
        services.Remove(registered);
        services.AddSingleton(registered.ImplementationType!);
        services.AddSingleton<IRegistrationStore>(provider =>
        {
            var store = new GatedRegistrationStore((IRegistrationStore)provider.GetRequiredService(registered.ImplementationType!), gate);
            created(store);
            return store;
        });
    }

    public async Task<IReadOnlyList<HostRegistration>> ListAsync(string service, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        await gate.WaitAsync(cancellationToken);
        return await inner.ListAsync(service, cancellationToken);
    }

    public Task PutAsync(HostRegistration host, CancellationToken cancellationToken) => inner.PutAsync(host, cancellationToken);

    public Task<bool> DeleteAsync(string service, string endpoint, CancellationToken cancellationToken) => inner.DeleteAsync(service, endpoint, cancellationToken);
}
