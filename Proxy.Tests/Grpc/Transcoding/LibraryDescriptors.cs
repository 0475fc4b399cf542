using System.Diagnostics;
using Google.Protobuf.Reflection;
using ProxyMesh.Proxy.Grpc.Transcoding;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>
/// The test service's descriptor set, written by the real <c>protoc</c> exactly as the documentation tells users
/// (<c>--include_imports --descriptor_set_out</c>), once per test run.
/// </summary>
public static class LibraryDescriptors
{
    private static readonly Lazy<string> SetPath = new(() => Compile(System.IO.Path.Combine(AppContext.BaseDirectory, "Protos"), "transcoding.proto"));

    /// <summary>Path of the compiled FileDescriptorSet.</summary>
    public static string Path => SetPath.Value;

    internal static TypePool Pool() => new(DescriptorSetReader.Read(File.ReadAllBytes(Path)).Concat([
        Google.Protobuf.WellKnownTypes.AnyReflection.Descriptor, Google.Rpc.StatusReflection.Descriptor, Google.Rpc.ErrorDetailsReflection.Descriptor]));

    /// <summary>Runs protoc on <paramref name="file"/> in <paramref name="directory"/> (google/api imports resolve from the test's Protos).</summary>
    public static string Compile(string directory, string file, bool includeImports = true)
    {
        var protos = System.IO.Path.Combine(AppContext.BaseDirectory, "Protos");
        var output = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "proxymesh-tests", $"library-{Guid.NewGuid():N}.pb");
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(output)!);
        var start = new ProcessStartInfo("protoc") { RedirectStandardError = true, RedirectStandardOutput = true };
        var arguments = new List<string> { $"--proto_path={directory}", $"--proto_path={protos}", "--proto_path=/usr/include", $"--descriptor_set_out={output}", file };
        if (includeImports)
        {
            arguments.Add("--include_imports");
        }

        foreach (var argument in arguments.Distinct())
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("protoc did not start");
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"protoc failed ({process.ExitCode}): {error}");
        }

        return output;
    }
}
