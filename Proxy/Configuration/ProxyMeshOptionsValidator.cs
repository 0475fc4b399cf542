using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Configuration;

/// <summary>Validates the <c>ProxyMesh</c> section: listeners, admin address, identity.</summary>
internal sealed class ProxyMeshOptionsValidator : IConfigurationValidator
{
    public const string AdminListenerName = "admin";

    private static readonly string[] SupportedProtocols =
        [nameof(HttpProtocols.Http1), nameof(HttpProtocols.Http2), nameof(HttpProtocols.Http1AndHttp2)];

    public void Validate(IConfiguration candidate, List<string> problems)
    {
        var section = candidate.GetSection(ProxyMeshOptions.SectionName);
        foreach (var listener in section.GetSection(nameof(ProxyMeshOptions.Listeners)).GetChildren())
        {
            // Checked before binding: the binder names no key when it cannot convert a dictionary entry's enum.
            var protocols = listener[nameof(ProxyListenerOptions.Protocols)];
            if (protocols is not null && !SupportedProtocols.Contains(protocols, StringComparer.OrdinalIgnoreCase))
            {
                problems.Add($"{listener.Path}:{nameof(ProxyListenerOptions.Protocols)}: '{protocols}' is not supported; use Http1, Http2 or Http1AndHttp2");
            }
        }

        if (problems.Count > 0)
        {
            return;
        }

        ProxyMeshOptions options;
        try
        {
            options = section.Get<ProxyMeshOptions>() ?? new ProxyMeshOptions();
        }
        catch (InvalidOperationException e)
        {
            // The binder names the key: "Failed to convert configuration value at 'ProxyMesh:...' to type ...".
            problems.Add($"{ProxyMeshOptions.SectionName}: {(e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}")}");
            return;
        }

        Validate(options, problems);
    }

    public static void Validate(ProxyMeshOptions options, List<string> problems)
    {
        const string prefix = ProxyMeshOptions.SectionName;
        if (options.Listeners.Count == 0)
        {
            problems.Add($"{prefix}:Listeners: no listener is configured; add one, e.g. {prefix}:Listeners:ingress:Url = http://127.0.0.1:10000");
        }

        if (options.ShutdownTimeout <= TimeSpan.Zero)
        {
            problems.Add($"{prefix}:ShutdownTimeout: must be positive");
        }

        var limits = options.Limits;
        if (limits.RequestHeadersTimeout <= TimeSpan.Zero)
        {
            problems.Add($"{prefix}:Limits:RequestHeadersTimeout: must be positive");
        }

        if (limits.MinRequestBodyBytesPerSecond < 0 || limits.MinRequestBodyGracePeriod <= TimeSpan.FromSeconds(1))
        {
            problems.Add($"{prefix}:Limits: MinRequestBodyBytesPerSecond must not be negative and MinRequestBodyGracePeriod must be longer than 1 s (Kestrel's heartbeat)");
        }

        if (limits.MinResponseBodyBytesPerSecond < 0 || limits.MinResponseBodyGracePeriod <= TimeSpan.FromSeconds(1))
        {
            problems.Add($"{prefix}:Limits: MinResponseBodyBytesPerSecond must not be negative and MinResponseBodyGracePeriod must be longer than 1 s (Kestrel's heartbeat)");
        }

        if (limits.MaxConcurrentStreams < 1)
        {
            problems.Add($"{prefix}:Limits:MaxConcurrentStreams: must be at least 1");
        }

        var ports = new Dictionary<int, string>();
        foreach (var (name, listener) in options.Listeners)
        {
            var key = $"{prefix}:Listeners:{name}";
            if (name.Equals(AdminListenerName, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{key}: the name '{AdminListenerName}' is reserved for the admin listener ({prefix}:Admin:Url)");
            }

            if (!ListenerAddress.TryParse(listener.Url, out var address, out var problem, allowTcp: true))
            {
                problems.Add($"{key}:Url: {problem}");
                continue;
            }

            CheckPort(address!, key, ports, problems);
            if (listener.Protocols is not (HttpProtocols.Http1 or HttpProtocols.Http2 or HttpProtocols.Http1AndHttp2))
            {
                problems.Add($"{key}:Protocols: '{listener.Protocols}' is not supported; use Http1, Http2 or Http1AndHttp2");
            }

            if (!address!.IsHttps && !address.IsTcp)
            {
                if (listener.Certificate is not null || listener.Certificates.Count > 0)
                {
                    problems.Add($"{key}:Certificate: a certificate needs an https:// Url (or tcp:// to terminate TLS)");
                }
            }
            else if (listener.Certificate is not null || (address.IsHttps && listener.Certificates.Count == 0))
            {
                // An https:// listener needs a certificate; its SNI list (TlsConfigValidator) may stand in for it.
                CheckCertificate(listener.Certificate, $"{key}:Certificate", problems);
            }
        }

        if (!ListenerAddress.TryParse(options.Admin.Url, out var admin, out var adminProblem))
        {
            problems.Add($"{prefix}:Admin:Url: {adminProblem}");
        }
        else if (admin!.IsHttps)
        {
            problems.Add($"{prefix}:Admin:Url: the admin listener is plain http; use http://");
        }
        else
        {
            CheckPort(admin, $"{prefix}:Admin", ports, problems);
        }

        if (string.IsNullOrWhiteSpace(options.ServiceName))
        {
            problems.Add($"{prefix}:ServiceName: must not be empty");
        }

        if (string.IsNullOrWhiteSpace(options.Zone))
        {
            problems.Add($"{prefix}:Zone: must not be empty");
        }
    }

    private static void CheckPort(ListenerAddress address, string key, Dictionary<int, string> ports, List<string> problems)
    {
        if (address.Port == 0)
        {
            if (address.IsLocalhost)
            {
                problems.Add($"{key}:Url: port 0 (any free port) needs an IP address, not localhost");
            }

            return;
        }

        if (!ports.TryAdd(address.Port, key))
        {
            problems.Add($"{key}:Url: port {address.Port} is already used by {ports[address.Port]}");
        }
    }

    private static void CheckCertificate(CertificateOptions? certificate, string key, List<string> problems)
    {
        if (certificate is null || string.IsNullOrWhiteSpace(certificate.Path))
        {
            problems.Add($"{key}:Path: an https:// listener needs a certificate file");
            return;
        }

        if (!File.Exists(certificate.Path))
        {
            problems.Add($"{key}:Path: file '{certificate.Path}' does not exist");
        }

        if (certificate.KeyPath is not null && !File.Exists(certificate.KeyPath))
        {
            problems.Add($"{key}:KeyPath: file '{certificate.KeyPath}' does not exist");
        }
    }
}
