using System.Globalization;
using System.Net;
using System.Text.Json;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>
/// Reads a <c>GET /v1/registration/{service}</c> answer (the SDS v1 REST API of lyft/discovery). The answer comes
/// from another process: anything unexpected in its shape is a failed update, never an exception.
/// </summary>
public sealed class SdsAnswer
{
    private SdsAnswer(IReadOnlyList<DiscoveredHost> hosts, int invalidHosts)
    {
        Hosts = hosts;
        InvalidHosts = invalidHosts;
    }

    public IReadOnlyList<DiscoveredHost> Hosts { get; }

    /// <summary>Host entries skipped because their address, port or tags could not be read.</summary>
    public int InvalidHosts { get; }

    /// <returns>The answer, or null with <paramref name="problem"/> saying why it is unusable.</returns>
    public static SdsAnswer? Parse(ReadOnlySpan<byte> json, string service, out string problem) =>
        Parse(json.ToArray(), service, int.MaxValue, out problem, out _);

    /// <param name="maxHosts">More host entries than this make the answer unusable as a whole (<paramref name="overLimit"/>).</param>
    /// <returns>The answer, or null with <paramref name="problem"/> saying why it is unusable.</returns>
    public static SdsAnswer? Parse(ReadOnlyMemory<byte> json, string service, int maxHosts, out string problem, out bool overLimit)
    {
        overLimit = false;
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                problem = "the answer is not a JSON object";
                return null;
            }

            if (root.TryGetProperty("service", out var named) && named.ValueKind == JsonValueKind.String
                && !string.Equals(named.GetString(), service, StringComparison.Ordinal))
            {
                problem = $"the answer is for service '{named.GetString()}'";
                return null;
            }

            if (!root.TryGetProperty("hosts", out var hostsElement) || hostsElement.ValueKind != JsonValueKind.Array)
            {
                problem = "the answer has no \"hosts\" array";
                return null;
            }

            var count = hostsElement.GetArrayLength();
            if (count > maxHosts)
            {
                // Refused before any host is built: a cluster that large would cost every request and every sweep.
                overLimit = true;
                problem = $"the answer lists {count} hosts, more than MaxHosts ({maxHosts})";
                return null;
            }

            var hosts = new List<DiscoveredHost>(count);
            var invalid = 0;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var element in hostsElement.EnumerateArray())
            {
                if (ReadHost(element) is { } host && seen.Add(host.Id))
                {
                    hosts.Add(host);
                }
                else
                {
                    invalid++;
                }
            }

            problem = "";
            return new SdsAnswer(hosts, invalid);
        }
        catch (JsonException e)
        {
            problem = $"malformed JSON: {e.Message}";
            return null;
        }
    }

    private static DiscoveredHost? ReadHost(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object
            || !element.TryGetProperty("ip_address", out var ip) || ip.ValueKind != JsonValueKind.String
            || !IPAddress.TryParse(ip.GetString(), out var address)
            || !element.TryGetProperty("port", out var portElement) || !TryReadInt(portElement, out var port)
            || port is < 1 or > 65535)
        {
            return null;
        }

        var host = new DiscoveredHost(address, port, Revision: ReadString(element, "revision"));
        if (!element.TryGetProperty("tags", out var tags) || tags.ValueKind == JsonValueKind.Null)
        {
            return host;
        }

        if (tags.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        int? weight = null;
        if (tags.TryGetProperty("load_balancing_weight", out var weightElement) && weightElement.ValueKind != JsonValueKind.Null)
        {
            if (!TryReadInt(weightElement, out var value) || value is < 1 or > 100)
            {
                return null;
            }

            weight = value;
        }

        return host with
        {
            Zone = ReadString(tags, "az"),
            Region = ReadString(tags, "region"),
            InstanceId = ReadString(tags, "instance_id"),
            Canary = tags.TryGetProperty("canary", out var canary) && (canary.ValueKind == JsonValueKind.True
                || (canary.ValueKind == JsonValueKind.String && bool.TryParse(canary.GetString(), out var flag) && flag)),
            Weight = weight,
        };
    }

    /// <summary>A number, or a number in a string (lyft's agent sends form values).</summary>
    private static bool TryReadInt(JsonElement element, out int value) =>
        element.ValueKind switch
        {
            JsonValueKind.Number => element.TryGetInt32(out value),
            JsonValueKind.String => int.TryParse(element.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out value),
            _ => (value = 0) != 0,
        };

    private static string? ReadString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
