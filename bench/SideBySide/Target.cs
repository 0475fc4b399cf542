namespace ProxyMesh.Bench.SideBySide;

/// <summary>One thing measured: a proxy (or the backend itself) with the ports each protocol reaches it on.</summary>
internal abstract class Target : IAsyncDisposable
{
    public static readonly string[] AllNames = ["direct", "nginx", "haproxy", "yarp", "proxymesh", "proxymesh-minimal"];

    protected Target(string name, string description)
    {
        Name = name;
        Description = description;
    }

    public string Name { get; }

    public string Description { get; }

    /// <summary>HTTP/1.1 port.</summary>
    public int Http1Port { get; protected init; }

    /// <summary>h2c (prior knowledge) port, for HTTP/2 and gRPC; null when the target has none.</summary>
    public int? H2cPort { get; protected init; }

    /// <summary>Whether the runtime's allocation counters can be read (a .NET process).</summary>
    public virtual bool IsDotNet => false;

    public ChildProcess? Process { get; protected set; }

    /// <summary>Idle RSS right after the latest start, before any load.</summary>
    public long IdleRssBytes { get; private set; }

    public IReadOnlyList<int> Pids => Process is null ? [] : ProcessStats.Tree(Process.Pid);

    public async Task StartAsync()
    {
        Process = Launch();
        await Process.WaitForPortAsync(Http1Port, TimeSpan.FromSeconds(60));
        if (H2cPort is { } h2c && h2c != Http1Port)
        {
            await Process.WaitForPortAsync(h2c, TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>Reads the idle RSS once the process has settled after start.</summary>
    public async Task MeasureIdleAsync()
    {
        await Task.Delay(TimeSpan.FromSeconds(2));
        IdleRssBytes = ProcessStats.RssBytes(Pids);
    }

    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    public async Task StopAsync()
    {
        if (Process is not null)
        {
            await Process.DisposeAsync();
            Process = null;
        }
    }

    protected abstract ChildProcess Launch();

    public ValueTask DisposeAsync() => new(StopAsync());
}
