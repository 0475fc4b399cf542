using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using ProxyMesh.Proxy.Tcp;

namespace ProxyMesh.Proxy.Tests.Tcp;

/// <summary>
/// A network filter for tests: records every byte it is shown, per connection and direction, and closes the connection
/// when the client sends the listener's <c>Record:CloseOn</c> text. Its option <c>Record:CloseOn</c> must not be empty
/// when present (so validation can be seen to reach filters).
/// </summary>
internal sealed class RecordingFilterFactory : ITcpFilterFactory
{
    public ConcurrentQueue<RecordingFilter> Created { get; } = new();

    public string Name => "Record";

    public void Validate(string listenerName, IConfigurationSection listener, ICollection<string> problems)
    {
        var closeOn = listener.GetSection("Record:CloseOn");
        if (closeOn.Exists() && string.IsNullOrEmpty(closeOn.Value))
        {
            problems.Add($"{closeOn.Path}: must not be empty");
        }
    }

    public ITcpFilter Create(TcpFilterContext context)
    {
        var filter = new RecordingFilter(context, context.Listener["Record:CloseOn"]);
        Created.Enqueue(filter);
        return filter;
    }
}

internal sealed class RecordingFilter(TcpFilterContext context, string? closeOn) : ITcpFilter
{
    private readonly MemoryStream _downstream = new();
    private readonly MemoryStream _upstream = new();
    private readonly byte[]? _closeOn = closeOn is null ? null : System.Text.Encoding.ASCII.GetBytes(closeOn);

    public TcpFilterContext Context { get; } = context;

    public bool Disposed { get; private set; }

    public TcpCloseInitiator? ClosedBy { get; private set; }

    /// <summary>For each upstream buffer in turn: whether the filter saw it on a thread-pool thread.</summary>
    public ConcurrentQueue<bool> UpstreamOnThreadPool { get; } = new();

    /// <summary>The longest run of contiguous client bytes shown at once: what one receive from the client can fill.</summary>
    public int LargestDownstreamSegment { get; private set; }

    public byte[] Downstream
    {
        get
        {
            lock (_downstream)
            {
                return _downstream.ToArray();
            }
        }
    }

    public byte[] Upstream
    {
        get
        {
            lock (_upstream)
            {
                return _upstream.ToArray();
            }
        }
    }

    public ValueTask<TcpFilterVerdict> OnDownstreamDataAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken)
    {
        lock (_downstream)
        {
            foreach (var segment in data)
            {
                _downstream.Write(segment.Span);
                LargestDownstreamSegment = Math.Max(LargestDownstreamSegment, segment.Length);
            }

            if (_closeOn is not null && _downstream.ToArray().AsSpan().IndexOf(_closeOn) >= 0)
            {
                return ValueTask.FromResult(TcpFilterVerdict.Close);
            }
        }

        return ValueTask.FromResult(TcpFilterVerdict.Continue);
    }

    public TcpFilterVerdict OnUpstreamData(ReadOnlySequence<byte> data)
    {
        UpstreamOnThreadPool.Enqueue(Thread.CurrentThread.IsThreadPoolThread);
        lock (_upstream)
        {
            foreach (var segment in data)
            {
                _upstream.Write(segment.Span);
            }
        }

        return TcpFilterVerdict.Continue;
    }

    public void OnClosed(TcpCloseInitiator initiator) => ClosedBy = initiator;

    public void Dispose() => Disposed = true;
}
