using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Slowloris headers and slow bodies: Kestrel's request headers timeout and minimum body data rate (configured in the
/// proxy's <c>ProxyMesh:Limits</c>, here shortened so the test is quick) end such connections; others are served.
/// </summary>
public sealed class SlowClientTests : IAsyncLifetime
{
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            await context.Response.WriteAsync($"read {(await reader.ReadToEndAsync(context.RequestAborted)).Length}");
        }));
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Limits"] = new JsonObject
        {
            ["RequestHeadersTimeout"] = "00:00:02",
            ["MinRequestBodyBytesPerSecond"] = 100,
            ["MinRequestBodyGracePeriod"] = "00:00:02",
        };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    /// <summary>Drips bytes one at a time until the proxy ends the connection; returns what it answered, or null if it never did.</summary>
    private async Task<string?> DripAsync(string start, char drip)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(_proxy.Ingress.Host, _proxy.Ingress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(start));
        var answer = new StringBuilder();
        var buffer = new byte[4096];
        var reading = stream.ReadAsync(buffer).AsTask();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (await Task.WhenAny(reading, Task.Delay(300)) == reading)
            {
                int read;
                try
                {
                    read = await reading;
                }
                catch (IOException)
                {
                    return answer.ToString();
                }

                if (read == 0)
                {
                    return answer.ToString();
                }

                answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
                reading = stream.ReadAsync(buffer).AsTask();
                continue;
            }

            try
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(drip.ToString()));
            }
            catch (IOException)
            {
                return answer.ToString();
            }
        }

        return null;
    }

    private async Task AWellBehavedClientIsServedAsync()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        Assert.Equal("read 0", await client.GetStringAsync("/fine"));
    }

    [Fact]
    public async Task Slowloris_headers_are_cut_off_by_the_request_headers_timeout()
    {
        var dripping = DripAsync("GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: ", 'a');
        await AWellBehavedClientIsServedAsync();
        var answer = await dripping;

        Assert.NotNull(answer);
        Assert.True(answer.Length == 0 || answer.StartsWith("HTTP/1.1 408", StringComparison.Ordinal), answer);
    }

    [Fact]
    public async Task A_body_slower_than_the_minimum_data_rate_is_cut_off()
    {
        var dripping = DripAsync("POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", 'b');
        await AWellBehavedClientIsServedAsync();
        var answer = await dripping;

        Assert.NotNull(answer);
        Assert.DoesNotContain("read 100000", answer, StringComparison.Ordinal);
    }
}
