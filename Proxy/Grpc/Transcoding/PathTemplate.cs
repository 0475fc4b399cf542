namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// A <c>google.api.http</c> path template (google/api/http.proto's grammar): literal segments, <c>*</c> (one
/// segment), <c>**</c> (the rest of the path, last segment only), variables <c>{field.path}</c> or
/// <c>{field.path=shelves/*/books/*}</c>, and an optional custom verb <c>:verb</c>.
/// </summary>
internal sealed class PathTemplate
{
    private PathTemplate(string text, Segment[] segments, Variable[] variables, string? verb)
    {
        Text = text;
        Segments = segments;
        Variables = variables;
        Verb = verb;
        LiteralCount = segments.Count(segment => segment.Kind == SegmentKind.Literal);
        EndsWithMultiSegment = segments.Length > 0 && segments[^1].Kind == SegmentKind.Multi;
    }

    public string Text { get; }

    public Segment[] Segments { get; }

    public Variable[] Variables { get; }

    public string? Verb { get; }

    public int LiteralCount { get; }

    public bool EndsWithMultiSegment { get; }

    /// <exception cref="FormatException">The template does not follow the grammar.</exception>
    public static PathTemplate Parse(string template)
    {
        if (string.IsNullOrEmpty(template) || template[0] != '/')
        {
            throw new FormatException($"path template '{template}' must start with '/'");
        }

        var body = template;
        string? verb = null;
        var colon = template.LastIndexOf(':');
        if (colon > template.LastIndexOf('/') && colon > template.LastIndexOf('}'))
        {
            verb = template[(colon + 1)..];
            body = template[..colon];
            if (verb.Length == 0)
            {
                throw new FormatException($"path template '{template}' has an empty verb");
            }
        }

        var segments = new List<Segment>();
        var variables = new List<Variable>();
        var position = 1;
        ParseSegments(template, body, ref position, segments, variables, insideVariable: false);
        if (position != body.Length)
        {
            throw new FormatException($"path template '{template}': unexpected '{body[position]}' at {position}");
        }

        for (var i = 0; i < segments.Count - 1; i++)
        {
            if (segments[i].Kind == SegmentKind.Multi)
            {
                throw new FormatException($"path template '{template}': '**' is only allowed as the last segment");
            }
        }

        return new PathTemplate(template, segments.ToArray(), variables.ToArray(), verb);
    }

    /// <summary>Matches decoded path segments (the verb, if any, still on the last one); fills the variables' values.</summary>
    public bool TryMatch(string[] pathSegments, string[] values)
    {
        if (Verb is not null)
        {
            var tail = pathSegments[^1];
            if (tail.Length <= Verb.Length || !tail.EndsWith(Verb, StringComparison.Ordinal) || tail[^(Verb.Length + 1)] != ':')
            {
                return false;
            }

            pathSegments = [.. pathSegments.AsSpan(0, pathSegments.Length - 1), tail[..^(Verb.Length + 1)]];
        }

        var count = pathSegments.Length;
        if (EndsWithMultiSegment ? count < Segments.Length - 1 : count != Segments.Length)
        {
            return false;
        }

        for (var i = 0; i < Segments.Length; i++)
        {
            if (Segments[i].Kind == SegmentKind.Literal && !string.Equals(Segments[i].Literal, pathSegments[i], StringComparison.Ordinal))
            {
                return false;
            }
        }

        for (var v = 0; v < Variables.Length; v++)
        {
            var variable = Variables[v];
            var end = variable.End < 0 ? count : variable.End;
            values[v] = end - variable.Start == 1 ? pathSegments[variable.Start] : string.Join('/', pathSegments, variable.Start, end - variable.Start);
        }

        return true;
    }

    private static void ParseSegments(string template, string body, ref int position, List<Segment> segments, List<Variable> variables, bool insideVariable)
    {
        while (true)
        {
            if (position >= body.Length)
            {
                throw new FormatException($"path template '{template}' ends where a segment is expected");
            }

            if (body[position] == '{')
            {
                if (insideVariable)
                {
                    throw new FormatException($"path template '{template}': variables cannot nest");
                }

                ParseVariable(template, body, ref position, segments, variables);
            }
            else if (string.CompareOrdinal(body, position, "**", 0, 2) == 0)
            {
                segments.Add(new Segment(SegmentKind.Multi, null));
                position += 2;
            }
            else if (body[position] == '*')
            {
                segments.Add(new Segment(SegmentKind.Single, null));
                position++;
            }
            else
            {
                var start = position;
                while (position < body.Length && body[position] is not ('/' or '{' or '}' or '*' or '='))
                {
                    position++;
                }

                if (position == start)
                {
                    throw new FormatException($"path template '{template}': empty segment at {start}");
                }

                segments.Add(new Segment(SegmentKind.Literal, Uri.UnescapeDataString(body[start..position])));
            }

            if (position < body.Length && body[position] == '/')
            {
                position++;
                continue;
            }

            return;
        }
    }

    private static void ParseVariable(string template, string body, ref int position, List<Segment> segments, List<Variable> variables)
    {
        position++;
        var start = position;
        while (position < body.Length && body[position] is not ('=' or '}'))
        {
            position++;
        }

        var fieldPath = body[start..position];
        if (fieldPath.Length == 0 || fieldPath.Split('.').Any(part => part.Length == 0))
        {
            throw new FormatException($"path template '{template}': variable '{fieldPath}' is not a field path");
        }

        var first = segments.Count;
        if (position < body.Length && body[position] == '=')
        {
            position++;
            ParseSegments(template, body, ref position, segments, variables, insideVariable: true);
        }
        else
        {
            segments.Add(new Segment(SegmentKind.Single, null));
        }

        if (position >= body.Length || body[position] != '}')
        {
            throw new FormatException($"path template '{template}': variable '{fieldPath}' is not closed with '}}'");
        }

        position++;
        var end = segments[^1].Kind == SegmentKind.Multi ? -1 : segments.Count;
        variables.Add(new Variable(fieldPath, first, end));
    }

    public enum SegmentKind
    {
        Literal,
        Single,
        Multi,
    }

    public sealed record Segment(SegmentKind Kind, string? Literal);

    /// <summary>A field path bound to segments [<see cref="Start"/>, <see cref="End"/>); End is -1 for "to the end".</summary>
    public sealed record Variable(string FieldPath, int Start, int End);
}
