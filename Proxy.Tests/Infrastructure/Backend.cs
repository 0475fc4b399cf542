using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>A real Kestrel upstream on 127.0.0.1 and an ephemeral port.</summary>
public sealed class Backend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Backend(WebApplication app, Uri uri)
    {
        _app = app;
        Uri = uri;
    }

    public Uri Uri { get; }

    public string Address => Uri.ToString().TrimEnd('/');

    public static async Task<Backend> StartAsync(
        Action<WebApplication> map,
        HttpProtocols protocols = HttpProtocols.Http1,
        Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.Protocols = protocols));
        services?.Invoke(builder.Services);
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Backend(app, new Uri(address));
    }

    /// <summary>Answers every request with who it is, what it saw, and the request body.</summary>
    public static Task<Backend> StartEchoAsync(string name = "backend", HttpProtocols protocols = HttpProtocols.Http1) =>
        StartAsync(app => app.Run(context => Echo(context, name)), protocols);

    public static async Task Echo(Microsoft.AspNetCore.Http.HttpContext context, string name)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        context.Response.Headers["x-backend"] = name;
        context.Response.Headers["x-backend-protocol"] = context.Request.Protocol;
        context.Response.Headers["x-backend-path"] = context.Request.Path + context.Request.QueryString;
        context.Response.Headers["x-backend-host"] = context.Request.Host.ToString();
        context.Response.Headers["x-backend-forwarded-proto"] = context.Request.Headers["X-Forwarded-Proto"].ToString();
        await context.Response.WriteAsync(body, context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
