using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Xunit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Discovery;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Resilience.Upstream;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Property tests (FsCheck) of what the proxy parses from others: the h2c preface detector, the SDS answer parser and
/// the configuration validators. Bounded (a few hundred cases each) so CI stays fast.
/// </summary>
public sealed class ParserPropertyTests : IClassFixture<ParserPropertyTests.Validators>
{
    private static readonly byte[] Preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    private readonly Validators _validators;

    public ParserPropertyTests(Validators validators) => _validators = validators;

    /// <summary>However the bytes arrive split, the verdict is: whole preface → h2c, a byte off → HTTP/1.1, a prefix → wait.</summary>
    [Property(MaxTest = 500)]
    public bool The_preface_verdict_depends_only_on_the_bytes_not_on_how_they_are_split(byte[] tail, byte prefixLength, byte[] cuts, bool corrupt)
    {
        var take = prefixLength % (Preface.Length + 1);
        var data = Preface.Take(take).Concat(tail ?? []).ToArray();
        if (corrupt && data.Length > 0)
        {
            data[(prefixLength * 7) % data.Length] ^= 0x20;
        }

        bool? expected = StartsWith(data, Preface) ? true
            : data.Length < Preface.Length && data.AsSpan().SequenceEqual(Preface.AsSpan(0, data.Length)) ? null
            : false;
        return CleartextHttp2Detection.Compare(Segmented(data, cuts ?? [])) == expected;
    }

    /// <summary>
    /// Any upstream field value decodes as SocketsHttpHandler decodes it on its own (Latin-1; UTF-8 first for
    /// <c>Location</c>), except that NUL, CR and LF become their control pictures, which the guards refuse.
    /// </summary>
    [Property(MaxTest = 500)]
    public bool Field_values_decode_as_the_http_client_would_with_NUL_CR_LF_made_visible(byte[] value)
    {
        value ??= [];
        static string Visible(string decoded) => decoded
            .Replace('\0', FieldValueEncoding.NulPicture).Replace('\r', FieldValueEncoding.CarriageReturnPicture).Replace('\n', FieldValueEncoding.LineFeedPicture);
        var location = System.Text.Unicode.Utf8.IsValid(value) ? Encoding.UTF8.GetString(value) : Encoding.Latin1.GetString(value);
        var latin1 = FieldValueEncoding.Latin1Values.GetString(value);
        return latin1 == Visible(Encoding.Latin1.GetString(value))
            && FieldValueEncoding.LocationValues.GetString(value) == Visible(location)
            && latin1.AsSpan().ContainsAny('\0', '\r', '\n') == false
            && value.AsSpan().ContainsAny((byte)0, (byte)'\r', (byte)'\n') == latin1.AsSpan().ContainsAny(
                [FieldValueEncoding.NulPicture, FieldValueEncoding.CarriageReturnPicture, FieldValueEncoding.LineFeedPicture]);
    }

    [Property(MaxTest = 300)]
    public bool Any_bytes_from_discovery_give_an_answer_or_a_problem_never_an_exception(byte[] bytes)
    {
        var answer = SdsAnswer.Parse(bytes ?? [], "orders", out var problem);
        return answer is not null || problem.Length > 0;
    }

    /// <summary>Hosts with any address text, port and weight: each is served (valid and unique) or counted invalid.</summary>
    [Property(MaxTest = 300)]
    public bool Every_host_entry_is_either_served_valid_or_counted_invalid(string[] addresses, int[] ports, int[] weights)
    {
        addresses ??= [];
        var hosts = new JsonArray();
        for (var i = 0; i < addresses.Length; i++)
        {
            var port = ports is { Length: > 0 } ? ports[i % ports.Length] : 80;
            var tags = new JsonObject();
            if (weights is { Length: > 0 })
            {
                tags["load_balancing_weight"] = weights[i % weights.Length];
            }

            hosts.Add(new JsonObject { ["ip_address"] = addresses[i], ["port"] = port, ["tags"] = tags });
        }

        var json = new JsonObject { ["service"] = "orders", ["hosts"] = hosts }.ToJsonString();
        var answer = SdsAnswer.Parse(Encoding.UTF8.GetBytes(json), "orders", out _);
        return answer is not null
            && answer.Hosts.Count + answer.InvalidHosts == addresses.Length
            && answer.Hosts.All(host => host.Port is >= 1 and <= 65535 && host.Weight is null or (>= 1 and <= 100))
            && answer.Hosts.Select(host => host.Id).Distinct().Count() == answer.Hosts.Count;
    }

    /// <summary>Whatever keys and values a reload brings, every validator reports problems as lines; none throws.</summary>
    [Property(MaxTest = 200)]
    public bool Validators_report_problems_for_any_configuration_and_never_throw(byte[] choices, string[] values)
    {
        values ??= [];
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < values.Length; i++)
        {
            var key = Validators.Keys[(choices is { Length: > 0 } ? choices[i % choices.Length] : i) % Validators.Keys.Length];
            settings[key] = values[i];
        }

        var candidate = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var problems = new List<string>();
        foreach (var validator in _validators.All)
        {
            validator.Validate(candidate, problems);
        }

        return problems.All(problem => problem.Length > 0);
    }

    private static bool StartsWith(byte[] data, byte[] prefix) => data.Length >= prefix.Length && data.AsSpan(0, prefix.Length).SequenceEqual(prefix);

    private static ReadOnlySequence<byte> Segmented(byte[] data, byte[] cuts)
    {
        if (data.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var points = cuts.Select(cut => cut % data.Length).Where(point => point > 0).Distinct().Order().ToList();
        points.Add(data.Length);
        Segment? first = null;
        Segment? last = null;
        var start = 0;
        foreach (var end in points)
        {
            var segment = new Segment(data.AsMemory(start, end - start), last);
            first ??= segment;
            last = segment;
            start = end;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
        {
            Memory = memory;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }

    /// <summary>The validators a running proxy registers, built once for all cases.</summary>
    public sealed class Validators : IAsyncLifetime
    {
        /// <summary>Keys every validator reads, so random values reach their parsing and range checks.</summary>
        public static readonly string[] Keys =
        [
            "ProxyMesh:Listeners:ingress:Url", "ProxyMesh:Listeners:ingress:Protocols", "ProxyMesh:Listeners:ingress:TrustDownstream",
            "ProxyMesh:Admin:Url", "ProxyMesh:ServiceName", "ProxyMesh:Zone",
            "ProxyMesh:AccessLog:SampleRate", "ProxyMesh:AccessLog:QueueCapacity", "ProxyMesh:Tracing:SampleRate",
            "ProxyMesh:Defaults:Retry:NumRetries", "ProxyMesh:Defaults:Retry:RetryOn", "ProxyMesh:Defaults:Timeouts:Connect",
            "ProxyMesh:Defaults:CircuitBreakers:MaxConnections", "ProxyMesh:Defaults:OutlierDetection:Consecutive5xx",
            "ProxyMesh:Defaults:OutlierDetection:Interval", "ProxyMesh:Defaults:RateLimit:FillInterval",
            "ProxyMesh:Defaults:HealthCheck:Type", "ProxyMesh:Defaults:HealthCheck:ExpectedStatuses", "ProxyMesh:Defaults:HealthCheck:InitialJitter",
            "ProxyMesh:Clusters:app:Discovery:AllowLoopback", "ProxyMesh:Discovery:Url", "ProxyMesh:Discovery:RefreshInterval",
            "ProxyMesh:Registration:Port", "ProxyMesh:Registration:Interval",
            "ReverseProxy:Routes:r:ClusterId", "ReverseProxy:Routes:r:Match:Path", "ReverseProxy:Routes:r:Metadata:ProxyMesh.Listeners",
            "ReverseProxy:Routes:r:Metadata:ProxyMesh.RateLimit.MaxTokens", "ReverseProxy:Clusters:app:Destinations:d:Address",
            "ReverseProxy:Clusters:app:LoadBalancingPolicy", "ReverseProxy:Clusters:app:Metadata:ProxyMesh.Discovery.Service",
        ];

        private RunningProxy _proxy = null!;

        public IReadOnlyList<IConfigurationValidator> All { get; private set; } = [];

        public async Task InitializeAsync()
        {
            _proxy = await RunningProxy.StartAsync(new ProxyConfig());
            All = _proxy.Services.GetServices<IConfigurationValidator>().ToList();
        }

        public async Task DisposeAsync() => await _proxy.DisposeAsync();
    }
}
