using System.Text;
using ProxyMesh.Proxy.Discovery;

namespace ProxyMesh.Proxy.Tests.Discovery;

public sealed class SdsAnswerTests
{
    private static SdsAnswer? Parse(string json, out string problem) => SdsAnswer.Parse(Encoding.UTF8.GetBytes(json), "orders", out problem);

    [Fact]
    public void Reads_hosts_and_their_tags()
    {
        var answer = Parse(
            """
            {"service":"orders","env":"prod","hosts":[
              {"ip_address":"10.0.0.1","port":8080,"last_check_in":"2026-01-01T00:00:00Z","revision":"abc","service":"orders",
               "tags":{"az":"us-east-1a","region":"us-east-1","instance_id":"i-1","canary":true,"load_balancing_weight":30}},
              {"ip_address":"::1","port":"9090","tags":{}}]}
            """,
            out _);

        Assert.NotNull(answer);
        Assert.Equal(0, answer.InvalidHosts);
        var first = answer.Hosts[0];
        Assert.Equal("10.0.0.1:8080", first.Id);
        Assert.Equal(("us-east-1a", "us-east-1", "i-1", true, 30, "abc"), (first.Zone, first.Region, first.InstanceId, first.Canary, first.Weight, first.Revision));
        Assert.Equal("[::1]:9090", answer.Hosts[1].Id);

        var destination = first.ToDestination("http");
        Assert.Equal("http://10.0.0.1:8080", destination.Address);
        Assert.Equal("us-east-1a", destination.Metadata!["zone"]);
        Assert.Equal("30", destination.Metadata["weight"]);
        Assert.Equal("true", destination.Metadata["canary"]);
    }

    [Theory]
    [InlineData("{\"hosts\": [", "malformed JSON")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("{\"service\":\"orders\"}", "no \"hosts\" array")]
    [InlineData("{\"hosts\":{}}", "no \"hosts\" array")]
    [InlineData("{\"service\":\"payments\",\"hosts\":[]}", "for service 'payments'")]
    public void Rejects_answers_of_the_wrong_shape(string json, string expected)
    {
        Assert.Null(Parse(json, out var problem));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"ip_address":"not-an-ip","port":80}""")]
    [InlineData("""{"ip_address":"10.0.0.2","port":0}""")]
    [InlineData("""{"ip_address":"10.0.0.2","port":70000}""")]
    [InlineData("""{"ip_address":"10.0.0.2"}""")]
    [InlineData("""{"port":80}""")]
    [InlineData("""{"ip_address":"10.0.0.2","port":80,"tags":{"load_balancing_weight":500}}""")]
    [InlineData("""{"ip_address":"10.0.0.2","port":80,"tags":"az=1"}""")]
    [InlineData("""{"ip_address":"10.0.0.1","port":80}""")]
    [InlineData("42")]
    public void Skips_and_counts_unreadable_or_duplicate_hosts(string badHost)
    {
        var answer = Parse($$"""{"hosts":[{"ip_address":"10.0.0.1","port":80},{{badHost}}]}""", out _);
        Assert.NotNull(answer);
        Assert.Equal("10.0.0.1:80", Assert.Single(answer.Hosts).Id);
        Assert.Equal(1, answer.InvalidHosts);
    }
}
