using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>
/// Bytes a .NET process allocates over a window, from the runtime's own <c>System.Runtime</c> <c>alloc-rate</c>
/// counter read over EventPipe (as dotnet-counters does): no change to the process measured.
/// </summary>
internal sealed class AllocationSampler : IAsyncDisposable
{
    private readonly EventPipeSession session;
    private readonly Task processing;
    private double bytes;

    private AllocationSampler(EventPipeSession session)
    {
        this.session = session;
        var source = new EventPipeEventSource(session.EventStream);
        source.Dynamic.All += OnEvent;
        processing = Task.Run(source.Process);
    }

    public static AllocationSampler Start(int pid)
    {
        var provider = new EventPipeProvider(
            "System.Runtime", EventLevel.Informational, 0, new Dictionary<string, string> { ["EventCounterIntervalSec"] = "1" });
        return new AllocationSampler(new DiagnosticsClient(pid).StartEventPipeSession([provider], requestRundown: false));
    }

    private void OnEvent(TraceEvent data)
    {
        if (data.EventName != "EventCounters" || data.PayloadValue(0) is not IDictionary<string, object> outer
            || outer["Payload"] is not IDictionary<string, object> payload || payload["Name"] as string != "alloc-rate")
        {
            return;
        }

        bytes += Convert.ToDouble(payload["Increment"], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Stops the session and returns the bytes allocated while it ran (to the last counter interval).</summary>
    public async Task<double> StopAsync()
    {
        await session.StopAsync(CancellationToken.None);
        await processing;
        return bytes;
    }

    public async ValueTask DisposeAsync()
    {
        session.Dispose();
        try
        {
            await processing;
        }
        catch (Exception)
        {
            // The session is gone either way; a sampler that failed reports nothing.
        }
    }
}
