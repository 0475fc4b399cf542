using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace ProxyMesh.Discovery.Registrations;

/// <summary>
/// Reads a check-in from form fields (<c>ip</c>, <c>port</c>, <c>revision</c>, <c>tags</c> as a JSON object string —
/// what lyft's discovery agent sends) or from a JSON body with the same fields. Anything malformed, out of range,
/// unknown or oversized is refused with a reason that names the field.
/// </summary>
public static class CheckInParser
{
    public const int MaxBodyBytes = 16 * 1024;
    public const int MaxTextLength = 256;

    private const string FormMediaType = "application/x-www-form-urlencoded";
    private const string JsonMediaType = "application/json";
    private static readonly string[] Fields = ["ip", "port", "revision", "tags", "service_repo_name"];
    private static readonly string[] TagNames = ["az", "region", "instance_id", "canary", "load_balancing_weight"];
    private static readonly JsonDocumentOptions JsonLimits = new() { MaxDepth = 4 };

    /// <exception cref="InvalidCheckInException">The check-in is refused; the message says why.</exception>
    public static CheckIn Parse(string? contentType, ReadOnlyMemory<byte> body)
    {
        var media = MediaTypeHeaderValue.TryParse(contentType, out var mediaType) ? mediaType.MediaType.Value : null;
        var fields = media?.ToLowerInvariant() switch
        {
            JsonMediaType => JsonFields(body),
            FormMediaType => FormFields(body),
            _ => throw new InvalidCheckInException($"Content-Type: expected {FormMediaType} (form fields) or {JsonMediaType}"),
        };

        var ip = Text(fields, "ip") ?? throw new InvalidCheckInException("ip: missing; the host's IP address is required");
        var port = fields.TryGetValue("port", out var portValue)
            ? RegistrationRules.ParsePort(Scalar(portValue, "port"))
            : throw new InvalidCheckInException("port: missing; the port the host serves on is required");
        var tags = fields.TryGetValue("tags", out var tagsValue) ? Tags(tagsValue) : HostTags.None;
        return new CheckIn(RegistrationRules.NormalizeIpAddress(ip), port, Text(fields, "revision") ?? "", Text(fields, "service_repo_name"), tags);
    }

    private static Dictionary<string, JsonElement> JsonFields(ReadOnlyMemory<byte> body)
    {
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in ParseObject(body, "body").EnumerateObject())
        {
            Add(fields, Fields, property.Name, property.Value, "");
        }

        return fields;
    }

    private static Dictionary<string, JsonElement> FormFields(ReadOnlyMemory<byte> body)
    {
        Dictionary<string, Microsoft.Extensions.Primitives.StringValues> form;
        try
        {
            using var reader = new FormReader(Encoding.UTF8.GetString(body.Span));
            form = reader.ReadForm();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidCheckInException($"body: not valid form data: {e.Message}");
        }

        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (name, values) in form)
        {
            if (values.Count != 1)
            {
                throw new InvalidCheckInException($"{RegistrationRules.Truncate(name)}: given {values.Count} times; give each field once");
            }

            var value = values[0] ?? "";
            var element = name == "tags"
                ? ParseObject(Encoding.UTF8.GetBytes(value), "tags")
                : JsonSerializer.SerializeToElement(value);
            Add(fields, Fields, name, element, "");
        }

        return fields;
    }

    private static JsonElement ParseObject(ReadOnlyMemory<byte> json, string field)
    {
        try
        {
            using var document = JsonDocument.Parse(json, JsonLimits);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.Clone()
                : throw new InvalidCheckInException($"{field}: expected a JSON object, got {document.RootElement.ValueKind}");
        }
        catch (JsonException e)
        {
            throw new InvalidCheckInException($"{field}: not valid JSON: {e.Message}");
        }
    }

    private static void Add(Dictionary<string, JsonElement> fields, string[] known, string name, JsonElement value, string prefix)
    {
        if (!known.Contains(name, StringComparer.Ordinal))
        {
            throw new InvalidCheckInException(
                $"{prefix}{RegistrationRules.Truncate(name)}: unknown {(prefix.Length == 0 ? "field" : "tag")}; expected {string.Join(", ", known)}");
        }

        if (!fields.TryAdd(name, value))
        {
            throw new InvalidCheckInException($"{prefix}{name}: given twice; give each field once");
        }
    }

    private static HostTags Tags(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return HostTags.None;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidCheckInException($"tags: expected a JSON object, got {value.ValueKind}");
        }

        var tags = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            Add(tags, TagNames, property.Name, property.Value, "tags.");
        }

        int? weight = tags.TryGetValue("load_balancing_weight", out var weightValue) && weightValue.ValueKind != JsonValueKind.Null
            ? Weight(Scalar(weightValue, "tags.load_balancing_weight"))
            : null;
        return new HostTags(
            Text(tags, "az", "tags."),
            Text(tags, "region", "tags."),
            Text(tags, "instance_id", "tags."),
            tags.TryGetValue("canary", out var canary) ? Canary(canary) : null,
            weight);
    }

    private static int Weight(string value)
    {
        if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var weight)
            || weight is < HostTags.MinWeight or > HostTags.MaxWeight)
        {
            throw new InvalidCheckInException(
                $"tags.load_balancing_weight: '{RegistrationRules.Truncate(value)}' is not a whole number in {HostTags.MinWeight}-{HostTags.MaxWeight}");
        }

        return weight;
    }

    private static bool? Canary(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        JsonValueKind.String when bool.TryParse(value.GetString(), out var parsed) => parsed,
        _ => throw new InvalidCheckInException($"tags.canary: expected true or false, got {RegistrationRules.Truncate(value.GetRawText())}"),
    };

    /// <summary>A number or a string, as text: lyft's agent sends numbers in strings, JSON bodies send them bare.</summary>
    private static string Scalar(JsonElement value, string field) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number => value.GetRawText(),
        _ => throw new InvalidCheckInException($"{field}: expected a number, got {value.ValueKind}"),
    };

    private static string? Text(Dictionary<string, JsonElement> fields, string name, string prefix = "")
    {
        if (!fields.TryGetValue(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InvalidCheckInException($"{prefix}{name}: expected a string, got {value.ValueKind}");
        }

        var text = value.GetString()!;
        if (text.Length > MaxTextLength)
        {
            throw new InvalidCheckInException($"{prefix}{name}: {text.Length} characters is longer than the {MaxTextLength} allowed");
        }

        if (text.Any(char.IsControl))
        {
            throw new InvalidCheckInException($"{prefix}{name}: control characters are not allowed");
        }

        return text;
    }
}
