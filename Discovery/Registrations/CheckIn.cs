namespace ProxyMesh.Discovery.Registrations;

/// <summary>A check-in as a host sent it, validated and normalized; the registry adds the service and the time.</summary>
public sealed record CheckIn(string IpAddress, int Port, string Revision, string? ServiceRepoName, HostTags Tags)
{
    /// <summary>The registration this check-in makes, stamped to the millisecond (what every store keeps).</summary>
    public HostRegistration At(string service, DateTimeOffset now)
    {
        var stamp = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
        return new HostRegistration(IpAddress, Port, stamp, Revision, service, Tags, ServiceRepoName);
    }
}
