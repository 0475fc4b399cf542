using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// An upstream outage costs one log line per cluster and kind of failure a minute, not one (with a stack trace, from
/// YARP) per failed attempt: at thousands of requests a second the lines would cost more than the requests.
/// </summary>
public sealed class UpstreamFailureLogTests
{
    [Fact]
    public async Task Requests_to_a_host_that_refuses_connections_log_one_line_not_one_per_attempt()
    {
        var closedPort = ProxyProcess.FreePort();
        var logs = new LogRecorder();
        var config = new ProxyConfig().Cluster("dead", $"http://127.0.0.1:{closedPort}").Route("dead", "dead");
        await using var proxy = await RunningProxy.StartAsync(config, services => services.AddSingleton<ILoggerProvider>(logs));
        using var client = Clients.Http1(proxy.Ingress);

        const int requests = 20;
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.GetAsync($"/down-{i}");
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        var failedConnects = await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"dead\"");
        Assert.True(failedConnects >= requests, $"{failedConnects} failed connections counted");
        var lines = logs.Lines;
        var failures = lines.Where(line => line.Message.StartsWith("Cluster dead: an upstream attempt failed (ConnectFailure", StringComparison.Ordinal)).ToList();
        Assert.True(failures.Count == 1, string.Join("\n", lines.Select(line => $"{line.Category}: {line.Message}")));
        Assert.Contains("refused", failures[0].Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(lines, line => line.Category.StartsWith("Yarp.ReverseProxy.Forwarder", StringComparison.Ordinal));
    }
}
