using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.HealthChecks;

/// <summary>What a <see cref="FlippingBackend"/>'s health endpoint does.</summary>
public enum HealthMode
{
    /// <summary>200.</summary>
    Ok,

    /// <summary>503: the host says it is unhealthy.</summary>
    Unavailable,

    /// <summary>The connection is dropped without an answer: a network failure.</summary>
    Abort,

    /// <summary>No answer until the backend stops: the check times out.</summary>
    Hang,

    /// <summary>418: an answer that is healthy only where the policy expects it.</summary>
    Teapot,
}

/// <summary>An echo backend whose <c>/health</c> answers as told, and which counts the checks it receives.</summary>
public sealed class FlippingBackend : IAsyncDisposable
{
    private int _checks;
    private volatile HealthMode _mode = HealthMode.Ok;

    private FlippingBackend(string name) => Name = name;

    public string Name { get; }

    public Backend Backend { get; private set; } = null!;

    public string Address => Backend.Address;

    public HealthMode Mode
    {
        get => _mode;
        set => _mode = value;
    }

    public int Checks => Volatile.Read(ref _checks);

    /// <summary>The Host header of the latest check.</summary>
    public string? LastCheckHost { get; private set; }

    public static async Task<FlippingBackend> StartAsync(string name)
    {
        var backend = new FlippingBackend(name);
        backend.Backend = await Backend.StartAsync(app => app.Run(backend.HandleAsync));
        return backend;
    }

    private Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path != "/health")
        {
            return Backend.Echo(context, Name);
        }

        LastCheckHost = context.Request.Host.Value;
        Interlocked.Increment(ref _checks);
        switch (_mode)
        {
            case HealthMode.Abort:
                context.Abort();
                break;
            case HealthMode.Unavailable:
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                break;
            case HealthMode.Teapot:
                context.Response.StatusCode = StatusCodes.Status418ImATeapot;
                break;
            case HealthMode.Hang:
                return Task.Delay(Timeout.Infinite, context.RequestAborted);
        }

        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => Backend.DisposeAsync();
}
