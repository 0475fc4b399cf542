using Google.Api;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// One configured transcoder: the HTTP rules of its services, compiled from a <c>FileDescriptorSet</c>, and the
/// formatter and parser over its types. Immutable; a reload builds a new one.
/// </summary>
internal sealed class GrpcTranscoder
{
    private readonly Dictionary<string, HttpBinding[]> _bindingsByMethod;

    private GrpcTranscoder(GrpcTranscoderOptions options, TypePool pool, Dictionary<string, HttpBinding[]> bindingsByMethod)
    {
        Options = options;
        Pool = pool;
        Formatter = new ProtoJsonFormatter(pool);
        Parser = new ProtoJsonParser(pool);
        StatusLayout = pool.LayoutOf(Google.Rpc.Status.Descriptor);
        _bindingsByMethod = bindingsByMethod;
    }

    public GrpcTranscoderOptions Options { get; }

    public TypePool Pool { get; }

    public ProtoJsonFormatter Formatter { get; }

    public ProtoJsonParser Parser { get; }

    public MessageLayout StatusLayout { get; }

    /// <summary>This transcoder's counters; set by <see cref="GrpcTranscoders"/> before it serves.</summary>
    public GrpcTranscodingStats.Series? Stats { get; set; }

    public IEnumerable<HttpBinding> Bindings => _bindingsByMethod.Values.SelectMany(bindings => bindings);

    /// <summary>The most specific binding for the HTTP method and decoded path segments, with its variables' values.</summary>
    public HttpBinding? Match(string httpMethod, string[] pathSegments, out string[] variableValues)
    {
        variableValues = [];
        if (!_bindingsByMethod.TryGetValue(httpMethod, out var bindings))
        {
            return null;
        }

        foreach (var binding in bindings)
        {
            var values = binding.Template.Variables.Length == 0 ? [] : new string[binding.Template.Variables.Length];
            if (binding.Template.TryMatch(pathSegments, values))
            {
                variableValues = values;
                return binding;
            }
        }

        return null;
    }

    /// <summary>Loads and compiles a transcoder; adds a line per problem and returns null when it cannot be served.</summary>
    public static GrpcTranscoder? Load(GrpcTranscoderOptions options, string contentRoot, List<string> problems)
    {
        var key = $"{GrpcTranscoderOptions.SectionName}:{options.Name}";
        if (string.IsNullOrWhiteSpace(options.DescriptorSet))
        {
            problems.Add($"{key}:DescriptorSet: required (a FileDescriptorSet written by protoc --include_imports --descriptor_set_out)");
            return null;
        }

        if (options.Services.Count == 0)
        {
            problems.Add($"{key}:Services: name at least one service (full name, e.g. \"pkg.Service\")");
            return null;
        }

        var path = Path.GetFullPath(options.DescriptorSet, contentRoot);
        IReadOnlyList<FileDescriptor> files;
        try
        {
            files = DescriptorSetReader.Read(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidProtocolBufferException or ArgumentException or DescriptorValidationException or InvalidDataException)
        {
            problems.Add($"{key}:DescriptorSet: cannot read '{path}': {e.Message}");
            return null;
        }

        var pool = new TypePool(files.Concat(ReferenceFiles()));
        var services = files.SelectMany(file => file.Services).GroupBy(service => service.FullName).ToDictionary(group => group.Key, group => group.First(), StringComparer.Ordinal);
        var bindings = new List<HttpBinding>();
        var problemCount = problems.Count;
        foreach (var name in options.Services)
        {
            if (!services.TryGetValue(name, out var service))
            {
                var known = services.Count == 0 ? "none" : string.Join(", ", services.Keys.Order(StringComparer.Ordinal));
                problems.Add($"{key}:Services: '{name}' is not in the descriptor set (services there: {known})");
                continue;
            }

            foreach (var method in service.Methods)
            {
                var rule = method.GetOptions()?.GetExtension(AnnotationsExtensions.Http);
                if (rule is null)
                {
                    continue;
                }

                var methodKey = $"{key}: {method.FullName}";
                if (method.IsClientStreaming)
                {
                    problems.Add($"{methodKey}: client and bidirectional streaming methods cannot be transcoded");
                    continue;
                }

                var transcoded = new TranscodedMethod(method.FullName, $"/{service.FullName}/{method.Name}",
                    pool.LayoutOf(method.InputType), pool.LayoutOf(method.OutputType), method.IsServerStreaming);
                AddBinding(rule, transcoded, methodKey, bindings, problems);
                foreach (var additional in rule.AdditionalBindings)
                {
                    if (additional.AdditionalBindings.Count > 0)
                    {
                        problems.Add($"{methodKey}: additional_bindings cannot nest further additional_bindings");
                    }

                    AddBinding(additional, transcoded, methodKey, bindings, problems);
                }
            }
        }

        if (problems.Count > problemCount)
        {
            return null;
        }

        var byMethod = bindings.GroupBy(binding => binding.HttpMethod, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(group => group.Key, group => group.Order(Comparer<HttpBinding>.Create(HttpBinding.CompareSpecificity)).ToArray(), StringComparer.OrdinalIgnoreCase);
        return new GrpcTranscoder(options, pool, byMethod);
    }

    private static void AddBinding(HttpRule rule, TranscodedMethod method, string key, List<HttpBinding> bindings, List<string> problems)
    {
        var (verb, template) = rule.PatternCase switch
        {
            HttpRule.PatternOneofCase.Get => ("GET", rule.Get),
            HttpRule.PatternOneofCase.Put => ("PUT", rule.Put),
            HttpRule.PatternOneofCase.Post => ("POST", rule.Post),
            HttpRule.PatternOneofCase.Delete => ("DELETE", rule.Delete),
            HttpRule.PatternOneofCase.Patch => ("PATCH", rule.Patch),
            HttpRule.PatternOneofCase.Custom => (rule.Custom.Kind, rule.Custom.Path),
            _ => (string.Empty, string.Empty),
        };
        if (verb.Length == 0)
        {
            problems.Add($"{key}: google.api.http rule has no pattern (get, put, post, delete, patch or custom)");
            return;
        }

        PathTemplate parsed;
        try
        {
            parsed = PathTemplate.Parse(template);
        }
        catch (FormatException e)
        {
            problems.Add($"{key}: {e.Message}");
            return;
        }

        var variableFields = new FieldLayout[parsed.Variables.Length][];
        for (var i = 0; i < parsed.Variables.Length; i++)
        {
            var fields = ResolveFieldPath(method.Input, parsed.Variables[i].FieldPath, out var error);
            if (fields is null)
            {
                problems.Add($"{key}: path variable '{parsed.Variables[i].FieldPath}' in '{template}': {error}");
                return;
            }

            variableFields[i] = fields;
        }

        FieldLayout? bodyField = null;
        var body = rule.Body switch
        {
            "" => BodyBinding.None,
            "*" => BodyBinding.Message,
            _ => BodyBinding.Field,
        };
        if (body == BodyBinding.Field)
        {
            bodyField = method.Input.FieldByName(rule.Body);
            if (bodyField is null || bodyField.Descriptor.Name != rule.Body)
            {
                problems.Add($"{key}: body '{rule.Body}' is not a top-level field of {method.Input.FullName}");
                return;
            }
        }

        FieldLayout? responseField = null;
        if (rule.ResponseBody.Length > 0)
        {
            responseField = method.Output.FieldByName(rule.ResponseBody);
            if (responseField is null || responseField.Descriptor.Name != rule.ResponseBody)
            {
                problems.Add($"{key}: response_body '{rule.ResponseBody}' is not a top-level field of {method.Output.FullName}");
                return;
            }
        }

        bindings.Add(new HttpBinding(verb.ToUpperInvariant(), parsed, variableFields, method, body, bodyField, responseField));
    }

    /// <summary>
    /// A dotted field path (proto names, or json_names as query parameters use them) through singular message
    /// fields to a field that can take a text value; null with the reason otherwise.
    /// </summary>
    public static FieldLayout[]? ResolveFieldPath(MessageLayout root, string path, out string error)
    {
        var parts = path.Split('.');
        var fields = new FieldLayout[parts.Length];
        var current = root;
        for (var i = 0; i < parts.Length; i++)
        {
            var field = current.FieldByName(parts[i]);
            if (field is null)
            {
                error = $"{current.FullName} has no field '{parts[i]}'";
                return null;
            }

            fields[i] = field;
            if (i < parts.Length - 1)
            {
                if (field.Type != FieldType.Message || field.IsRepeated || field.Message!.WellKnown != WellKnownKind.None)
                {
                    error = $"'{parts[i]}' is not a singular message field, so it has no field '{parts[i + 1]}'";
                    return null;
                }

                current = field.Message;
            }
            else if (field.IsMap || (field.Type == FieldType.Message
                         && field.Message!.WellKnown is not (WellKnownKind.Wrapper or WellKnownKind.Timestamp or WellKnownKind.Duration or WellKnownKind.FieldMask)))
            {
                error = $"'{parts[i]}' is a {(field.IsMap ? "map" : "message")} field; only scalar, enum and wrapper/Timestamp/Duration/FieldMask fields take a text value";
                return null;
            }
        }

        error = string.Empty;
        return fields;
    }

    /// <summary>Types every transcoder can name: the well-known types and google.rpc's Status and error details.</summary>
    private static IEnumerable<FileDescriptor> ReferenceFiles() =>
    [
        AnyReflection.Descriptor, ApiReflection.Descriptor, DurationReflection.Descriptor, EmptyReflection.Descriptor,
        FieldMaskReflection.Descriptor, SourceContextReflection.Descriptor, StructReflection.Descriptor,
        TimestampReflection.Descriptor, TypeReflection.Descriptor, WrappersReflection.Descriptor,
        StatusReflection.Descriptor, ErrorDetailsReflection.Descriptor,
    ];
}
