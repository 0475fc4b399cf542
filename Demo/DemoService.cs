using System.Net.Http.Json;

namespace ProxyMesh.Demo;

/// <summary>What an instance does to its requests on demand: <c>POST /fault/fail</c>, <c>/fault/slow</c>, <c>/fault/ok</c>.</summary>
internal enum Fault
{
    Ok,
    Fail,
    Slow,
}

/// <summary>
/// A small demo application behind its sidecar. <c>locations</c> answers <c>GET /locations/{id}</c>; <c>users</c>
/// answers <c>GET /users/{id}</c> by calling <c>locations</c> through its own egress sidecar (as every mesh service
/// calls another: <c>http://127.0.0.1:&lt;egress&gt;</c> with <c>Host: locations</c>).
/// </summary>
internal static class DemoService
{
    /// <summary>How long a request takes while the instance is slow: longer than the demo's per-try timeout (1 s).</summary>
    public static readonly TimeSpan SlowDelay = TimeSpan.FromSeconds(3);

    private static readonly string[] Cities = ["Lisbon", "Oslo", "Kyoto", "Quito", "Accra", "Perth", "Lima"];

    public static WebApplication Build(DemoInstance instance, Action<IServiceCollection> hostedByDemo)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://127.0.0.1:{instance.AppPort}");
        builder.Services.AddHttpClient("egress", client =>
        {
            client.BaseAddress = new Uri($"http://127.0.0.1:{instance.EgressPort}");
            client.Timeout = TimeSpan.FromSeconds(10);
        });
        hostedByDemo(builder.Services);
        var app = builder.Build();

        var fault = Fault.Ok;
        app.Use(async (context, next) =>
        {
            switch (fault)
            {
                case Fault.Fail when !context.Request.Path.StartsWithSegments("/fault"):
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    await context.Response.WriteAsync($"{instance.Name}: injected failure\n");
                    return;
                case Fault.Slow when !context.Request.Path.StartsWithSegments("/fault"):
                    await Task.Delay(SlowDelay, context.RequestAborted);
                    break;
            }

            await next(context);
        });
        app.MapPost("/fault/{mode}", (string mode) =>
        {
            if (!Enum.TryParse<Fault>(mode, ignoreCase: true, out var chosen) || !Enum.IsDefined(chosen))
            {
                return Results.BadRequest("use /fault/fail, /fault/slow or /fault/ok\n");
            }

            fault = chosen;
            return Results.Text($"{instance.Name}: {mode.ToLowerInvariant()}\n");
        });
        app.MapGet("/", () => Results.Json(new { service = instance.Service, instance = instance.Name, zone = instance.Zone }));
        if (instance.Service == "locations")
        {
            app.MapGet("/locations/{id:int}", (int id) => Results.Json(new
            {
                id,
                city = Cities[Math.Abs(id) % Cities.Length],
                served_by = instance.Name,
                zone = instance.Zone,
            }));
        }
        else
        {
            app.MapGet("/users/{id:int}", async (int id, IHttpClientFactory clients, CancellationToken cancel) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/locations/{id}") { Headers = { Host = "locations" } };
                using var response = await clients.CreateClient("egress").SendAsync(request, cancel);
                if (!response.IsSuccessStatusCode)
                {
                    return Results.Text($"locations answered {(int)response.StatusCode}\n", statusCode: StatusCodes.Status502BadGateway);
                }

                var location = await response.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>(cancel);
                return Results.Json(new { id, name = $"user-{id}", location, served_by = instance.Name });
            });
        }

        return app;
    }
}
