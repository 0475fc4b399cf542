using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace ProxyMesh.Discovery.Registrations;

/// <summary>What a service name, an address and a port must look like, for check-ins, reads and deregistrations alike.</summary>
public static partial class RegistrationRules
{
    public const int MaxServiceNameLength = 128;

    /// <exception cref="InvalidCheckInException">The name is not 1-128 characters from A-Z a-z 0-9 . _ - starting with a letter or digit.</exception>
    public static void CheckServiceName(string service)
    {
        if (!ServiceName().IsMatch(service))
        {
            throw new InvalidCheckInException(
                $"service: '{Truncate(service)}' is not a service name; use 1-{MaxServiceNameLength} characters from A-Z a-z 0-9 . _ - starting with a letter or digit");
        }
    }

    /// <summary>An IPv4 address in dotted-quad form or an IPv6 address, unicast and without a scope.</summary>
    /// <returns>The address in canonical form, so that one host has one key however it spells its address.</returns>
    /// <exception cref="InvalidCheckInException">Not such an address.</exception>
    public static string NormalizeIpAddress(string value, string field = "ip")
    {
        var isDottedQuad = DottedQuad().IsMatch(value);
        var looksLikeIPv6 = value.Contains(':', StringComparison.Ordinal) && !value.Contains('%', StringComparison.Ordinal);
        if ((!isDottedQuad && !looksLikeIPv6) || !IPAddress.TryParse(value, out var address)
            || (looksLikeIPv6 && address.AddressFamily != AddressFamily.InterNetworkV6))
        {
            throw new InvalidCheckInException($"{field}: '{Truncate(value)}' is not an IPv4 (a.b.c.d) or IPv6 address");
        }

        var bytes = address.GetAddressBytes();
        var unspecified = bytes.All(b => b == 0);
        var broadcastOrMulticast = address.AddressFamily == AddressFamily.InterNetwork
            ? bytes.All(b => b == 255) || bytes[0] is >= 224 and <= 239
            : address.IsIPv6Multicast;
        if (unspecified || broadcastOrMulticast)
        {
            throw new InvalidCheckInException($"{field}: '{value}' is not a unicast address a host can be reached at");
        }

        return address.ToString();
    }

    /// <exception cref="InvalidCheckInException">Not a whole number in 1-65535.</exception>
    public static int ParsePort(string value, string field = "port")
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new InvalidCheckInException($"{field}: '{Truncate(value)}' is not a port in 1-65535");
        }

        return port;
    }

    internal static string Truncate(string value) => value.Length <= 64 ? value : string.Concat(value.AsSpan(0, 64), "…");

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\z")]
    private static partial Regex ServiceName();

    [GeneratedRegex(@"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\z")]
    private static partial Regex DottedQuad();
}
