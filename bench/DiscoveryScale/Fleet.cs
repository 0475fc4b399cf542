using System.Globalization;
using System.Net.Http.Json;

namespace ProxyMesh.Bench.DiscoveryScale;

/// <summary>The registered hosts and which simulated proxy polls which service: fixed by the seed, the same for every run.</summary>
internal sealed class Fleet
{
    private Fleet(string[] services, int[][] servicesOfProxy, int hostsPerService)
    {
        Services = services;
        ServicesOfProxy = servicesOfProxy;
        HostsPerService = hostsPerService;
    }

    public string[] Services { get; }

    /// <summary>For each proxy, the indexes of the services it polls (distinct).</summary>
    public int[][] ServicesOfProxy { get; }

    public int HostsPerService { get; }

    public static Fleet Create(ScaleOptions options)
    {
        var random = new Random(options.Seed);
        var services = Enumerable.Range(0, options.Services).Select(i => $"svc-{i:0000}").ToArray();
        var proxies = new int[options.Proxies][];
        for (var p = 0; p < proxies.Length; p++)
        {
            var chosen = new HashSet<int>();
            while (chosen.Count < options.ServicesPerProxy)
            {
                chosen.Add(random.Next(services.Length));
            }

            proxies[p] = [.. chosen];
        }

        return new Fleet(services, proxies, options.HostsPerService);
    }

    /// <summary>Host <paramref name="host"/> of service <paramref name="service"/>: 10.x.y.z, unique across the fleet.</summary>
    public static string HostIp(int service, int host) =>
        string.Create(CultureInfo.InvariantCulture, $"10.{service >> 8}.{service & 255}.{host + 1}");

    /// <summary>A check-in as a sidecar's registration agent sends it (JSON body, all tags set).</summary>
    public static JsonContent CheckIn(string ip, int instance) => JsonContent.Create(new Dictionary<string, object>
    {
        ["ip"] = ip,
        ["port"] = 8080,
        ["revision"] = "7ac0a37e5d",
        ["tags"] = new Dictionary<string, object>
        {
            ["az"] = "us-east-1" + (char)('a' + (instance % 3)),
            ["region"] = "us-east-1",
            ["instance_id"] = string.Create(CultureInfo.InvariantCulture, $"i-{instance:x17}"),
            ["canary"] = false,
            ["load_balancing_weight"] = 10,
        },
    });

    /// <summary>Registers every host with real POSTs, at most <paramref name="concurrency"/> at a time.</summary>
    public async Task RegisterAsync(HttpClient client, Uri discovery, int concurrency)
    {
        var work = Enumerable.Range(0, Services.Length).SelectMany(s => Enumerable.Range(0, HostsPerService).Select(h => (s, h)));
        await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (host, cancellationToken) =>
        {
            var (s, h) = host;
            using var content = CheckIn(HostIp(s, h), (s * HostsPerService) + h);
            using var response = await client.PostAsync(new Uri(discovery, $"/v1/registration/{Services[s]}"), content, cancellationToken);
            response.EnsureSuccessStatusCode();
        });
    }
}
