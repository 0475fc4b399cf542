using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>A Kestrel upstream on 127.0.0.1 serving TLS with a certificate for <c>orders.mesh</c> from a test CA.</summary>
internal static class TlsBackend
{
    /// <summary>Starts the upstream; returns it and its port.</summary>
    public static async Task<(WebApplication App, int Port)> StartAsync(TestCertificates certificates, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        var certificate = TestCertificates.Load(certificates.Issue("upstream", "orders", ["orders.mesh"]));
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return (app, port);
    }
}
