using System.Text.Json.Serialization;

namespace ProxyMesh.Discovery.Registrations;

/// <summary>
/// One host of a service, as it last checked in. Serialized (snake_case, see <see cref="RegistrationJson"/>) it is
/// the SDS v1 host object: <c>ip_address</c>, <c>port</c>, <c>last_check_in</c>, <c>revision</c>, <c>service</c>,
/// <c>tags</c>, and <c>service_repo_name</c> when the host gave one (lyft's field, kept for its agent).
/// </summary>
public sealed record HostRegistration(
    string IpAddress,
    int Port,
    [property: JsonConverter(typeof(UtcTimestampJsonConverter))] DateTimeOffset LastCheckIn,
    string Revision,
    string Service,
    HostTags Tags,
    string? ServiceRepoName = null)
{
    /// <summary>The host within its service, <c>ip:port</c>: the store's sort key.</summary>
    [JsonIgnore]
    public string Endpoint => EndpointOf(IpAddress, Port);

    public static string EndpointOf(string ipAddress, int port) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{ipAddress}:{port}");

    /// <summary>Whether the host checked in within <paramref name="hostTtl"/> before <paramref name="at"/>.</summary>
    public bool IsLiveAt(DateTimeOffset at, TimeSpan hostTtl) => at - LastCheckIn <= hostTtl;
}
