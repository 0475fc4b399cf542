using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>A failing or shared access log sink costs counted log lines, never traffic, the process or other output.</summary>
public sealed class AccessLogSinkTests
{
    private static async Task<Backend> OkBackendAsync() =>
        await Backend.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")));

    [Fact]
    public async Task Stdout_stays_valid_json_lines_while_the_console_logger_writes_too()
    {
        await using var backend = await OkBackendAsync();
        var ingress = ProxyProcess.FreePort();
        var admin = ProxyProcess.FreePort();
        var directory = Directory.CreateTempSubdirectory("proxymesh-stdout").FullName;
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app", path: "/{**rest}", listeners: "ingress");
        config.Root["ProxyMesh"]!["Listeners"] = new JsonObject { ["ingress"] = new JsonObject { ["Url"] = $"http://127.0.0.1:{ingress}" } };
        config.Root["ProxyMesh"]!["Admin"] = new JsonObject { ["Url"] = $"http://127.0.0.1:{admin}" };
        // Every request also makes the console logger write (Kestrel and hosting at Debug, as JSON).
        config.Root["Logging"] = JsonNode.Parse("""{ "LogLevel": { "Default": "Debug" }, "Console": { "FormatterName": "json" } }""");
        await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), config.ToJson());
        await using var process = ProxyProcess.Start(directory, []);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ingress}") };
        await Eventually.AssertAsync(async () =>
        {
            try
            {
                return (await client.GetAsync("/warmup")).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, "the proxy serving");

        const int Requests = 3000;
        await Parallel.ForAsync(0, Requests, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, cancel) =>
        {
            using var response = await client.GetAsync($"/r{i}", cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });

        await Eventually.AssertAsync(
            () => Task.FromResult(AccessLines(process.StandardOutput).Count >= Requests),
            "an access log line for every request on stdout");
        foreach (var line in process.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var parsed = JsonDocument.Parse(line); // throws on a line two writers interleaved
        }
    }

    private static List<string> AccessLines(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(line => line.Contains("\"response_code\"", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task A_log_file_on_a_full_disk_costs_counted_lines_not_traffic()
    {
        await using var backend = await OkBackendAsync();
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = "/dev/full" };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("ok", await client.GetStringAsync($"/r{i}"));
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_access_log_lines_lost_total", null, 20);
        Assert.Equal("ok", await client.GetStringAsync("/after"));
    }

    [Fact]
    public async Task A_deleted_log_directory_costs_counted_lines_until_it_exists_again()
    {
        await using var backend = await OkBackendAsync();
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var log = Path.Combine(directory, "access.log");
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        Assert.Equal("ok", await client.GetStringAsync("/first"));
        await AccessLogFile.WaitForAsync(log, 1);

        Directory.Delete(directory, recursive: true);
        await Eventually.AssertAsync(
            async () => await client.GetStringAsync("/lost") == "ok" && await MetricsScrape.ValueAsync(proxy, "proxymesh_access_log_lines_lost_total") > 0,
            "lines counted as lost while the directory is gone");

        Directory.CreateDirectory(directory);
        try
        {
            await Eventually.AssertAsync(
                async () => await client.GetStringAsync("/kept") == "ok" && AccessLogFile.Read(log).Any(entry => entry.GetProperty("path").GetString() == "/kept"),
                "the log written again once the directory is back");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
