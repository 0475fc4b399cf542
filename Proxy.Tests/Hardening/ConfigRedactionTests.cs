using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Admin;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary><c>/config_dump</c> blanks secrets by what their names look like, wherever they appear.</summary>
public sealed class ConfigRedactionTests
{
    private static JsonNode Redacted(string json)
    {
        var node = JsonNode.Parse(json)!;
        ConfigRedactor.Redact(node);
        return node;
    }

    [Theory]
    [InlineData("X-Auth-Token")]
    [InlineData("x-amz-signature")]
    [InlineData("X-Session-Id")]
    [InlineData("x-client-secret")]
    [InlineData("X-Upstream-Key")]
    [InlineData("Authorization")]
    [InlineData("Cookie")]
    public void Header_values_set_by_transforms_are_redacted_when_the_header_name_looks_secret(string header)
    {
        var node = Redacted($$"""{ "Transforms": [ { "RequestHeader": "{{header}}", "Set": "s3cr3t" }, { "RequestHeader": "{{header}}", "Append": "s3cr3t" } ] }""");
        Assert.DoesNotContain("s3cr3t", node.ToJsonString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("access_token")]
    [InlineData("signature")]
    [InlineData("api_key")]
    [InlineData("password")]
    public void Query_parameter_transform_values_are_redacted_when_the_parameter_name_looks_secret(string parameter)
    {
        var node = Redacted($$"""{ "Transforms": [ { "QueryValueParameter": "{{parameter}}", "Set": "s3cr3t" } ] }""");
        Assert.DoesNotContain("s3cr3t", node.ToJsonString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SigningKey")]
    [InlineData("HmacKey")]
    [InlineData("PrivateKey")]
    [InlineData("Key")]
    [InlineData("ClientSecret")]
    public void Signing_keys_and_other_secret_settings_are_redacted(string key)
    {
        var node = Redacted($$"""{ "ProxyMesh": { "Tracing": { "{{key}}": "s3cr3t" } } }""");
        Assert.DoesNotContain("s3cr3t", node.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Ordinary_settings_and_headers_stay_readable()
    {
        var node = Redacted("""
            {
              "Metadata": { "ProxyMesh.RateLimit.MaxTokens": "10", "ProxyMesh.RateLimit.TokensPerFill": "2" },
              "Transforms": [ { "RequestHeader": "x-tenant", "Set": "blue" }, { "QueryValueParameter": "page", "Set": "2" } ],
              "Match": { "Hosts": [ "orders.example" ] }
            }
            """).ToJsonString();
        Assert.Contains("\"10\"", node, StringComparison.Ordinal);
        Assert.Contains("\"2\"", node, StringComparison.Ordinal);
        Assert.Contains("blue", node, StringComparison.Ordinal);
        Assert.Contains("orders.example", node, StringComparison.Ordinal);
    }
}
