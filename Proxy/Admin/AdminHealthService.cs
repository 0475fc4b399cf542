using Grpc.Core;
using Grpc.Health.V1;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace ProxyMesh.Proxy.Admin;

/// <summary>
/// <c>grpc.health.v1.Health</c> on the admin listener, answering what <c>/ready</c> answers: SERVING while live,
/// NOT_SERVING before start-up completes and while draining (<c>/healthcheck/fail</c>, shutdown). The overall server
/// (<c>""</c>) and the sidecar's own service name are known; others are NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch),
/// as the gRPC health protocol says. Watch streams every change and ends once shutdown begins.
/// </summary>
internal sealed class AdminHealthService(ProxyLifecycle lifecycle, IHostApplicationLifetime lifetime, IOptions<ProxyMeshOptions> mesh)
    : Health.HealthBase
{
    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
        IsKnown(request.Service)
            ? Task.FromResult(new HealthCheckResponse { Status = Current() })
            : throw new RpcException(new Status(StatusCode.NotFound, $"unknown service '{request.Service}'"));

    public override async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var known = IsKnown(request.Service);
        ServingStatus? sent = null;
        while (true)
        {
            var changed = lifecycle.GetChangeToken(); // taken before reading the state, so no change can slip between
            var status = known ? Current() : ServingStatus.ServiceUnknown;
            if (status != sent)
            {
                await responseStream.WriteAsync(new HealthCheckResponse { Status = status }, context.CancellationToken);
                sent = status;
            }

            if (ended.IsCancellationRequested)
            {
                return;
            }

            var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (changed.RegisterChangeCallback(static state => ((TaskCompletionSource)state!).TrySetResult(), next))
            using (ended.Token.Register(static state => ((TaskCompletionSource)state!).TrySetResult(), next))
            {
                await next.Task;
            }

            if (context.CancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private bool IsKnown(string service) => service.Length == 0 || service == mesh.Value.ServiceName;

    private ServingStatus Current() => lifecycle.State == ServerState.Live ? ServingStatus.Serving : ServingStatus.NotServing;
}
