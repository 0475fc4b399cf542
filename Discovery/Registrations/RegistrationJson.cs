using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ProxyMesh.Discovery.Registrations;

/// <summary>The JSON spelling of the API and of the embedded store's file: snake_case, absent values left out.</summary>
public static class RegistrationJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // read by proxies and people, never embedded in HTML
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };
}
