using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>
/// Every log line written while a request is proxied carries its <c>RequestId</c> as a log scope (as ASP.NET Core's
/// hosting scope names it), over HTTP/1.1 and h2c alike; lines written outside a request carry none.
/// </summary>
public sealed partial class RequestIdLogScopeTests : IAsyncLifetime
{
    private readonly LogLines _lines = new();
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartEchoAsync();
        _proxy = await RunningProxy.StartAsync(
            new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app"),
            services =>
            {
                services.AddSingleton<ILoggerProvider>(new RecordingLoggerProvider(_lines));
                services.AddSingleton<ITransformProvider, LoggingTransformProvider>();
            });
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_line_logged_during_a_request_carries_the_callers_request_id(bool h2c)
    {
        var id = $"caller-{Guid.NewGuid():N}";
        using var client = h2c ? Clients.H2c(_proxy.Ingress) : Clients.Http1(_proxy.Ingress);
        using var request = client.Request(HttpMethod.Get, $"/{id}");
        request.Headers.TryAddWithoutValidation(RequestId.Header, id);
        using var response = await client.SendAsync(request);
        response.EnsureSuccessStatusCode();

        Assert.Equal(id, Assert.Single(_lines.RequestIdsOf($"/{id}")));
    }

    [Fact]
    public async Task A_generated_request_id_is_the_one_on_the_lines_and_in_the_response()
    {
        using var client = Clients.Http1(_proxy.Ingress);
        var path = $"/generated-{Guid.NewGuid():N}";
        using var response = await client.GetAsync(path);
        response.EnsureSuccessStatusCode();

        var returned = Assert.Single(response.Headers.GetValues(RequestId.Header));
        Assert.Equal(returned, Assert.Single(_lines.RequestIdsOf(path)));
    }

    [Fact]
    public async Task Lines_logged_outside_a_request_carry_no_request_id()
    {
        using (var client = Clients.Http1(_proxy.Ingress))
        {
            (await client.GetAsync("/before")).EnsureSuccessStatusCode();
        }

        var logger = _proxy.Services.GetRequiredService<ILogger<RequestIdLogScopeTests>>();
        LogOutside(logger, "/outside");

        Assert.Null(Assert.Single(_lines.RequestIdsOf("/outside")));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "outside {Path}")]
    private static partial void LogOutside(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "proxying {Path}")]
    private static partial void LogProxying(ILogger logger, string? path);

    /// <summary>Logs one warning per proxied request, from inside the proxy pipeline (a request transform).</summary>
    private sealed class LoggingTransformProvider(ILogger<LoggingTransformProvider> logger) : ITransformProvider
    {
        public void ValidateRoute(TransformRouteValidationContext context)
        {
        }

        public void ValidateCluster(TransformClusterValidationContext context)
        {
        }

        public void Apply(TransformBuilderContext context) =>
            context.AddRequestTransform(transform =>
            {
                LogProxying(logger, transform.HttpContext.Request.Path.Value);
                return ValueTask.CompletedTask;
            });
    }

    private sealed class LogLines
    {
        private readonly ConcurrentQueue<(string Message, string? RequestId)> _lines = new();

        public void Add(string message, string? requestId) => _lines.Enqueue((message, requestId));

        /// <summary>The request id scope of each line that mentions <paramref name="path"/>.</summary>
        public string?[] RequestIdsOf(string path) =>
            _lines.Where(line => line.Message.EndsWith(" " + path, StringComparison.Ordinal)).Select(line => line.RequestId).ToArray();
    }

    /// <summary>Records each line with the <c>RequestId</c> scope it was logged under, as the console logger reads scopes.</summary>
    private sealed class RecordingLoggerProvider(LogLines lines) : ILoggerProvider, ISupportExternalScope
    {
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public ILogger CreateLogger(string categoryName) => new Recorder(this);

        public void Dispose()
        {
        }

        private sealed class Recorder(RecordingLoggerProvider provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => provider._scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (!IsEnabled(logLevel))
                {
                    return;
                }

                string? requestId = null;
                provider._scopes.ForEachScope(
                    (scope, _) =>
                    {
                        if (scope is IEnumerable<KeyValuePair<string, object>> properties)
                        {
                            foreach (var (key, value) in properties)
                            {
                                if (key == "RequestId")
                                {
                                    requestId = value as string;
                                }
                            }
                        }
                    },
                    (object?)null);
                provider.Add(formatter(state, exception), requestId);
            }
        }

        private void Add(string message, string? requestId) => lines.Add(message, requestId);
    }
}
