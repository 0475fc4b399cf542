using Grpc.Core;

namespace ProxyMesh.Proxy.Tests.Grpc;

/// <summary>The gRPC upstream: echoes, streams, fails on request, and reports the deadline and cancellation it saw.</summary>
public sealed class EchoService(CancellationObserver cancellations) : Echo.EchoBase
{
    public override async Task<EchoReply> Unary(EchoRequest request, ServerCallContext context)
    {
        await DelayOrFailAsync(request, context);
        return Reply(request.Message, context);
    }

    public override async Task ServerStream(EchoRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        await DelayOrFailAsync(request, context);
        try
        {
            for (var i = 0; request.Count == 0 || i < request.Count; i++)
            {
                await responseStream.WriteAsync(Reply($"{request.Message} {i}", context), context.CancellationToken);
                if (request.Count == 0)
                {
                    await Task.Delay(10, context.CancellationToken);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The call was cut short from the caller's side: cancelled, or its stream reset while writing.
            cancellations.Observe(request.Message);
            throw;
        }
    }

    public override async Task<EchoReply> ClientStream(IAsyncStreamReader<EchoRequest> requestStream, ServerCallContext context)
    {
        var messages = new List<string>();
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            messages.Add(request.Message);
        }

        return Reply(string.Join(",", messages), context);
    }

    public override async Task Bidi(IAsyncStreamReader<EchoRequest> requestStream, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            await DelayOrFailAsync(request, context);
            await responseStream.WriteAsync(Reply(request.Message.ToUpperInvariant(), context), context.CancellationToken);
        }
    }

    private static async Task DelayOrFailAsync(EchoRequest request, ServerCallContext context)
    {
        if (request.DelayMs > 0)
        {
            await Task.Delay(request.DelayMs, context.CancellationToken);
        }

        if (request.FailWithStatus != 0)
        {
            var trailers = new Metadata { { "x-failure-detail", "requested by test" } };
            throw new RpcException(new Status((StatusCode)request.FailWithStatus, $"failing with {request.FailWithStatus} as asked"), trailers);
        }
    }

    private static EchoReply Reply(string message, ServerCallContext context) => new()
    {
        Message = message,
        DeadlineSeconds = context.Deadline == DateTime.MaxValue ? -1 : (context.Deadline - DateTime.UtcNow).TotalSeconds,
    };
}

/// <summary>Lets a test wait until the upstream has seen a call cancelled.</summary>
public sealed class CancellationObserver
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _cancelled = new();

    public void Observe(string message) => _cancelled[message] = true;

    public bool WasCancelled(string message) => _cancelled.ContainsKey(message);
}
