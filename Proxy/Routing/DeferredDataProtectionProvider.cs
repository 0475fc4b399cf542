using Microsoft.AspNetCore.DataProtection;

namespace ProxyMesh.Proxy.Routing;

/// <summary>
/// Protects YARP's session-affinity cookies with keys that live as long as the process (a sidecar keeps no key ring on
/// disk), created on first use: YARP creates its protectors at start-up, but most sidecars never set an affinity cookie,
/// and the keys load the runtime's cryptography (about 2 MB of mapped assemblies) into every idle proxy.
/// </summary>
internal sealed class DeferredDataProtectionProvider(ILoggerFactory loggerFactory) : IDataProtectionProvider
{
    private readonly Lazy<IDataProtectionProvider> _keys = new(() => new EphemeralDataProtectionProvider(loggerFactory));

    public IDataProtector CreateProtector(string purpose) => new DeferredProtector(_keys, [purpose]);

    private sealed class DeferredProtector(Lazy<IDataProtectionProvider> keys, string[] purposes) : IDataProtector
    {
        private IDataProtector? _protector;

        private IDataProtector Protector => _protector ??= keys.Value.CreateProtector(purposes);

        public IDataProtector CreateProtector(string purpose) => new DeferredProtector(keys, [.. purposes, purpose]);

        public byte[] Protect(byte[] plaintext) => Protector.Protect(plaintext);

        public byte[] Unprotect(byte[] protectedData) => Protector.Unprotect(protectedData);
    }
}
