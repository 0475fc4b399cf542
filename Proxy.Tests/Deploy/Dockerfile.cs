using System.Text.Json;

namespace ProxyMesh.Proxy.Tests.Deploy;

/// <summary>The instructions of deploy/Dockerfile that decide what a container runs, read as Docker reads them.</summary>
public sealed class Dockerfile
{
    private Dockerfile(List<Stage> stages) => Stages = stages;

    public IReadOnlyList<Stage> Stages { get; }

    public Stage this[string name] => Stages.Single(stage => stage.Name == name);

    public static Dockerfile Load(string path)
    {
        var stages = new List<Stage>();
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var instruction = line[..space].ToUpperInvariant();
            var arguments = line[(space + 1)..].Trim();
            if (instruction == "FROM")
            {
                var parts = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                stages.Add(new Stage(parts.Length == 3 && parts[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? parts[2] : "", parts[0]));
            }
            else
            {
                stages[^1].Instructions.Add((instruction, arguments));
            }
        }

        return new Dockerfile(stages);
    }

    public sealed class Stage(string name, string baseImage)
    {
        public string Name { get; } = name;

        public string BaseImage { get; } = baseImage;

        public List<(string Instruction, string Arguments)> Instructions { get; } = [];

        public IEnumerable<string> All(string instruction) =>
            Instructions.Where(i => i.Instruction == instruction).Select(i => i.Arguments);

        public string? Last(string instruction) => All(instruction).LastOrDefault();

        /// <summary><c>RUN dotnet publish &lt;project&gt; … -o &lt;dir&gt;</c>: the command's arguments after <c>dotnet</c>.</summary>
        public IEnumerable<string[]> Publishes =>
            All("RUN").Where(run => run.StartsWith("dotnet publish ", StringComparison.Ordinal))
                .Select(run => run.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]);

        /// <summary><c>COPY [--from=…] [--chmod=…] source destination</c>.</summary>
        public IEnumerable<(string? From, string Source, string Destination)> Copies =>
            All("COPY").Select(copy =>
            {
                var parts = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var from = parts.FirstOrDefault(part => part.StartsWith("--from=", StringComparison.Ordinal))?["--from=".Length..];
                var paths = parts.Where(part => !part.StartsWith("--", StringComparison.Ordinal)).ToArray();
                return (from, paths[0], paths[1]);
            });

        public string[] Entrypoint => JsonSerializer.Deserialize<string[]>(Last("ENTRYPOINT")!)!;

        public string[] HealthcheckCommand
        {
            get
            {
                var healthcheck = Last("HEALTHCHECK")!;
                return JsonSerializer.Deserialize<string[]>(healthcheck[(healthcheck.IndexOf("CMD ", StringComparison.Ordinal) + 4)..])!;
            }
        }

        public IReadOnlyDictionary<string, string> Environment =>
            All("ENV").Select(env => env.Split('=', 2)).ToDictionary(pair => pair[0], pair => pair[1]);

        public int[] ExposedPorts =>
            All("EXPOSE").SelectMany(ports => ports.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(int.Parse).Order().ToArray();
    }
}
