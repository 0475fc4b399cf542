namespace ProxyMesh.Proxy.Discovery.Registration;

/// <summary>
/// <c>ProxyMesh:Registration</c>: checks this sidecar's service in with discovery, "once a minute, like a cron
/// job". Active when <see cref="Ip"/> and <see cref="Port"/> are set.
/// </summary>
public sealed class RegistrationOptions
{
    public const string SectionName = "ProxyMesh:Registration";

    /// <summary>Discovery service base URL; defaults to <c>ProxyMesh:Discovery:Url</c>.</summary>
    public string? DiscoveryUrl { get; set; }

    /// <summary>The service to register under; defaults to <c>ProxyMesh:ServiceName</c>.</summary>
    public string? Service { get; set; }

    /// <summary>The address other sidecars reach this service at (usually this sidecar's ingress).</summary>
    public string? Ip { get; set; }

    public int? Port { get; set; }

    public string? Revision { get; set; }

    public RegistrationTags Tags { get; set; } = new();

    /// <summary>Time between check-ins, plus up to 10% jitter.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(60);

    public bool IsActive => Ip is not null || Port is not null;
}

/// <summary>The SDS v1 tags; <see cref="Az"/> defaults to <c>ProxyMesh:Zone</c>.</summary>
public sealed class RegistrationTags
{
    public string? Az { get; set; }

    public string? Region { get; set; }

    public string? InstanceId { get; set; }

    public bool Canary { get; set; }

    public int? LoadBalancingWeight { get; set; }
}
