using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A real HTTP server on loopback speaking the SDS v1 API with answers a test scripts, including broken ones
/// (error statuses, malformed JSON) that the real discovery service never gives; it can stop and come back on the
/// same port. It records every request it receives.
/// </summary>
public sealed class ScriptedDiscovery : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, int> _reads = new(StringComparer.Ordinal);
    private WebApplication? _app;

    private ScriptedDiscovery()
    {
    }

    public Uri Uri { get; private set; } = null!;

    public string Url => Uri.ToString().TrimEnd('/');

    /// <summary>The answer to <c>GET /v1/registration/{service}</c>: status and body.</summary>
    public Func<string, (int Status, string Body)> Answer { get; set; } = service => (200, Hosts(service, Array.Empty<string>()));

    public ConcurrentQueue<(string Method, string Path, string Body)> Requests { get; } = new();

    /// <summary>When set, reads wait for it before answering (or until the caller gives up): a discovery that hangs.</summary>
    public Task? Hold { get; set; }

    public int ReadsOf(string service) => _reads.GetValueOrDefault(service);

    public static async Task<ScriptedDiscovery> StartAsync()
    {
        var discovery = new ScriptedDiscovery();
        await discovery.StartOnAsync(0);
        return discovery;
    }

    /// <summary>An SDS answer listing hosts given as <c>http://ip:port</c> addresses, with optional zone tags.</summary>
    public static string ZonedHosts(string service, params (string Address, string? Zone)[] hosts)
    {
        var array = new JsonArray();
        foreach (var (address, zone) in hosts)
        {
            var uri = new Uri(address);
            var tags = new JsonObject { ["instance_id"] = $"i-{uri.Port}", ["load_balancing_weight"] = 10, ["canary"] = false };
            if (zone is not null)
            {
                tags["az"] = zone;
            }

            array.Add(new JsonObject
            {
                ["ip_address"] = uri.Host,
                ["port"] = uri.Port,
                ["last_check_in"] = DateTime.UtcNow.ToString("O"),
                ["revision"] = "r1",
                ["service"] = service,
                ["tags"] = tags,
            });
        }

        return new JsonObject { ["service"] = service, ["env"] = "test", ["hosts"] = array }.ToJsonString();
    }

    public static string Hosts(string service, params string[] addresses) =>
        ZonedHosts(service, addresses.Select(address => (address, (string?)null)).ToArray());

    /// <summary>Stops answering: connections to the port are refused until <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public Task RestartAsync() => StartOnAsync(Uri.Port);

    private async Task StartOnAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            var path = context.Request.Path.Value ?? "";
            Requests.Enqueue((context.Request.Method, path, body));
            const string prefix = "/v1/registration/";
            if (HttpMethods.IsGet(context.Request.Method) && path.StartsWith(prefix, StringComparison.Ordinal))
            {
                var service = path[prefix.Length..];
                _reads.AddOrUpdate(service, 1, (_, count) => count + 1);
                if (Hold is { } hold)
                {
                    await hold.WaitAsync(context.RequestAborted);
                }

                var (status, answer) = Answer(service);
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(answer);
            }
        });
        await app.StartAsync();
        _app = app;
        Uri = new Uri(app.Urls.First());
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
