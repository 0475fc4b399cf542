namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>A gRPC method that has at least one <c>google.api.http</c> binding.</summary>
internal sealed record TranscodedMethod(string FullName, string GrpcPath, MessageLayout Input, MessageLayout Output, bool ServerStreaming);

/// <summary>Where the HTTP request body goes: nowhere, the whole request message (<c>*</c>), or one top-level field.</summary>
internal enum BodyBinding
{
    None,
    Message,
    Field,
}

/// <summary>
/// One HTTP rule of a method (the rule itself or one of its <c>additional_bindings</c>): verb and path template, the
/// request fields its path variables name, and where the body and the response body go.
/// </summary>
internal sealed record HttpBinding(
    string HttpMethod,
    PathTemplate Template,
    FieldLayout[][] VariableFields,
    TranscodedMethod Method,
    BodyBinding Body,
    FieldLayout? BodyField,
    FieldLayout? ResponseBodyField)
{
    /// <summary>More literal segments first, then templates without <c>**</c>, then longer ones: the most specific rule wins.</summary>
    public static int CompareSpecificity(HttpBinding a, HttpBinding b)
    {
        var byLiterals = b.Template.LiteralCount.CompareTo(a.Template.LiteralCount);
        if (byLiterals != 0)
        {
            return byLiterals;
        }

        var byMulti = a.Template.EndsWithMultiSegment.CompareTo(b.Template.EndsWithMultiSegment);
        if (byMulti != 0)
        {
            return byMulti;
        }

        var byVerb = (b.Template.Verb is not null).CompareTo(a.Template.Verb is not null);
        return byVerb != 0 ? byVerb : b.Template.Segments.Length.CompareTo(a.Template.Segments.Length);
    }
}
