using System.Net;
using System.Net.NetworkInformation;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Admin;

/// <summary>
/// Keeps the admin API where it belongs: a non-loopback admin listener must be allowed explicitly, the token comes
/// from one place, and no cluster forwards traffic-listener requests to the admin listener's own address (which
/// would serve <c>/healthcheck/fail</c> or <c>/config_dump</c> to whoever reaches a traffic port).
/// </summary>
internal sealed class AdminConfigValidator : IConfigurationValidator
{
    private const string Prefix = $"{ProxyMeshOptions.SectionName}:Admin";

    public void Validate(IConfiguration candidate, List<string> problems)
    {
        var admin = new AdminOptions();
        try
        {
            candidate.GetSection(Prefix).Bind(admin);
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{Prefix}: {e.Message}");
            return;
        }

        CheckToken(admin, problems);
        if (!ListenerAddress.TryParse(admin.Url, out var address, out _))
        {
            return; // ProxyMeshOptionsValidator names the problem.
        }

        if (!address!.IsLoopback && !admin.AllowNonLoopback)
        {
            problems.Add($"{Prefix}:Url: '{admin.Url}' is reachable from other machines, and the admin API can drain this sidecar "
                         + $"and show its configuration; keep it on 127.0.0.1, or set {Prefix}:AllowNonLoopback = true "
                         + $"(with {Prefix}:Token or {Prefix}:TokenFile)");
        }

        if (address.Port != 0)
        {
            CheckClustersAvoidAdmin(candidate, address, problems);
        }
    }

    private static void CheckToken(AdminOptions admin, List<string> problems)
    {
        if (admin.Token is not null && admin.TokenFile is not null)
        {
            problems.Add($"{Prefix}:TokenFile: set either {Prefix}:Token or {Prefix}:TokenFile, not both");
        }
        else if (admin.Token is not null && string.IsNullOrWhiteSpace(admin.Token))
        {
            problems.Add($"{Prefix}:Token: must not be blank");
        }
        else if (admin.TokenFile is not null && AdminToken.TryRead(admin.TokenFile, out _) is { } problem)
        {
            problems.Add($"{Prefix}:TokenFile: {problem}");
        }
    }

    private static void CheckClustersAvoidAdmin(IConfiguration candidate, ListenerAddress admin, List<string> problems)
    {
        HashSet<IPAddress>? adminAddresses = null;
        foreach (var cluster in candidate.GetSection("ReverseProxy:Clusters").GetChildren())
        {
            if (string.Equals(cluster[$"Metadata:{AdminOptions.AllowAdminDestinationMetadataKey}"], "true", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var destination in cluster.GetSection("Destinations").GetChildren())
            {
                if (!Uri.TryCreate(destination["Address"], UriKind.Absolute, out var uri) || uri.Port != admin.Port)
                {
                    continue;
                }

                adminAddresses ??= AddressesOf(admin);
                var ip = IPAddress.TryParse(uri.IdnHost, out var parsed) ? parsed : null;
                var targetsAdmin = uri.IsLoopback || IsUnspecified(ip) // connecting to 0.0.0.0 or :: reaches this machine
                    ? admin.IsLoopback || admin.IsAnyAddress || IsUnspecified(admin.IPAddress)
                    : ip is not null && adminAddresses.Contains(ip);
                if (targetsAdmin)
                {
                    problems.Add($"{destination.Path}:Address: '{uri}' is this sidecar's admin listener ({Prefix}:Url '{admin.Host}:{admin.Port}'); "
                                 + "a route to it would serve the admin API on a traffic listener. Set cluster metadata "
                                 + $"\"{AdminOptions.AllowAdminDestinationMetadataKey}\": \"true\" if that is really meant");
                }
            }
        }
    }

    private static bool IsUnspecified(IPAddress? ip) => ip is not null && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any));

    /// <summary>The IP addresses the admin listener answers on: its own, or every local one for a wildcard.</summary>
    private static HashSet<IPAddress> AddressesOf(ListenerAddress admin)
    {
        var addresses = new HashSet<IPAddress>();
        if (admin.IPAddress is { } ip)
        {
            addresses.Add(ip);
        }

        if (admin.IsAnyAddress || IsUnspecified(admin.IPAddress))
        {
            foreach (var network in NetworkInterface.GetAllNetworkInterfaces())
            {
                foreach (var unicast in network.GetIPProperties().UnicastAddresses)
                {
                    addresses.Add(unicast.Address);
                }
            }
        }

        return addresses;
    }
}
