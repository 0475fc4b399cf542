using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.DiscoveryService;

/// <summary>A client of the discovery service's HTTP API, as a host's agent and a polling proxy use it.</summary>
public sealed class DiscoveryApi(Uri uri) : IDisposable
{
    private readonly HttpClient _http = Clients.Http1(uri);

    /// <summary>Form fields, URL-encoded, as lyft's discovery agent sends them.</summary>
    public static string Form(params (string Name, string Value)[] fields) =>
        string.Join('&', fields.Select(field => $"{Uri.EscapeDataString(field.Name)}={Uri.EscapeDataString(field.Value)}"));

    /// <summary>A valid check-in with form fields; <paramref name="tags"/> is the JSON object string.</summary>
    public Task<HttpResponseMessage> CheckInAsync(string service, string ip, int port, string revision = "rev-1", string tags = """{"az":"zone-a"}""") =>
        PostAsync(service, "application/x-www-form-urlencoded", Form(("ip", ip), ("port", port.ToString(CultureInfo.InvariantCulture)), ("revision", revision), ("tags", tags)));

    public async Task CheckInOkAsync(string service, string ip, int port, string revision = "rev-1")
    {
        using var response = await CheckInAsync(service, ip, port, revision);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    public Task<HttpResponseMessage> PostAsync(string service, string contentType, string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return _http.PostAsync($"/v1/registration/{service}", content);
    }

    public Task<HttpResponseMessage> DeregisterAsync(string service, string ip, int port) =>
        _http.DeleteAsync($"/v1/registration/{service}/{ip}/{port.ToString(CultureInfo.InvariantCulture)}");

    public Task<HttpResponseMessage> GetAsync(string service) => _http.GetAsync($"/v1/registration/{service}");

    /// <summary>The answer for a service, which must be 200.</summary>
    public async Task<JsonObject> ServiceAsync(string service)
    {
        using var response = await GetAsync(service);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {service}: {(int)response.StatusCode} {body}");
        return (JsonObject)JsonNode.Parse(body)!;
    }

    /// <summary>The hosts answered for a service, as sorted <c>ip:port</c>.</summary>
    public async Task<string[]> EndpointsAsync(string service)
    {
        var answer = await ServiceAsync(service);
        return [.. answer["hosts"]!.AsArray().Select(host => $"{host!["ip_address"]}:{host["port"]}").Order(StringComparer.Ordinal)];
    }

    public async Task<string> MetricsTextAsync()
    {
        using var response = await _http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of one series, e.g. <c>discovery_store_requests_total{operation="read"}</c>; 0 when absent.</summary>
    public async Task<double> MetricAsync(string series)
    {
        foreach (var line in (await MetricsTextAsync()).Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public void Dispose() => _http.Dispose();
}
