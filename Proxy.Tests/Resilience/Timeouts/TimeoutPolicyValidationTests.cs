using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.Timeouts;

namespace ProxyMesh.Proxy.Tests.Resilience.Timeouts;

/// <summary>The stream idle timeout and the gRPC deadline cap: defaults, validation, and the grpc-timeout header.</summary>
public sealed class TimeoutPolicyValidationTests
{
    [Fact]
    public void Defaults_are_envoys_stream_idle_timeout_and_no_grpc_cap()
    {
        var policy = new TimeoutPolicy();
        Assert.Equal(TimeSpan.FromMinutes(5), policy.StreamIdle);
        Assert.Null(policy.MaxGrpcTimeout);
    }

    [Theory]
    [InlineData("ProxyMesh:Defaults:Timeouts:StreamIdle", "00:00:00", "ProxyMesh:Defaults:Timeouts:StreamIdle: must be positive")]
    [InlineData("ProxyMesh:Clusters:orders:Timeouts:StreamIdle", "-00:00:01", "ProxyMesh:Clusters:orders:Timeouts:StreamIdle: must be positive")]
    [InlineData("ProxyMesh:Defaults:Timeouts:MaxGrpcTimeout", "-00:00:01", "ProxyMesh:Defaults:Timeouts:MaxGrpcTimeout: must not be negative")]
    [InlineData("ProxyMesh:Defaults:Timeouts:MaxGrpcTimeout", "soon", "ProxyMesh:Defaults:Timeouts")]
    public void Out_of_range_values_are_refused_naming_the_key(string key, string value, string expected)
    {
        var problems = PolicyConfig.Validate(new ResilienceConfigValidator(), (key, value));
        Assert.Contains(problems, problem => problem.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Valid_values_pass()
    {
        Assert.Empty(PolicyConfig.Validate(
            new ResilienceConfigValidator(),
            ("ProxyMesh:Defaults:Timeouts:StreamIdle", "00:01:00"),
            ("ProxyMesh:Clusters:orders:Timeouts:MaxGrpcTimeout", "00:00:00"),
            ("ProxyMesh:Clusters:orders:Timeouts:StreamIdle", "01:00:00")));
    }

    [Theory]
    [InlineData("1H", 3600_000)]
    [InlineData("2M", 120_000)]
    [InlineData("3S", 3000)]
    [InlineData("250m", 250)]
    [InlineData("1500u", 1.5)]
    [InlineData("2000000n", 2)]
    [InlineData("99999999m", 99_999_999)]
    public void Grpc_timeouts_follow_the_protocol(string header, double milliseconds)
    {
        Assert.True(GrpcTimeout.TryParse(header, out var timeout));
        Assert.Equal(milliseconds, timeout.TotalMilliseconds, 3);
    }

    [Theory]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("-5m")]
    [InlineData("123456789m")]
    [InlineData("1.5S")]
    public void Malformed_grpc_timeouts_are_refused(string header) =>
        Assert.False(GrpcTimeout.TryParse(header, out _));

    [Theory]
    [InlineData(1234.2, "1235m")]
    [InlineData(0, "1m")]
    [InlineData(200_000_000, "200000S")]
    public void The_remaining_time_is_sent_in_milliseconds_rounded_up(double milliseconds, string header) =>
        Assert.Equal(header, GrpcTimeout.Format(TimeSpan.FromMilliseconds(milliseconds)));
}
