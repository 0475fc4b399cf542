using System.Diagnostics;
using System.Text;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A command started as from a terminal: in a process group of its own (<c>setsid</c>), so that <see cref="InterruptAsync"/>
/// delivers SIGINT to every process in it, as Ctrl+C does (e.g. to both <c>dotnet run</c> and the program it runs).
/// </summary>
public sealed class TerminalProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private TerminalProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, line) => Append(line.Data);
        _process.ErrorDataReceived += (_, line) => Append(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Standard output and error as printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static TerminalProcess Start(string workingDirectory, string program, params string[] args) =>
        Start(workingDirectory, new Dictionary<string, string>(), program, args);

    public static TerminalProcess Start(string workingDirectory, IReadOnlyDictionary<string, string> environment, string program, params string[] args)
    {
        var start = new ProcessStartInfo("setsid")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(program);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("ASPNETCORE_URLS");
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        // setsid runs the program in place (this child is not a group leader), so its pid is the new group's id.
        return new TerminalProcess(Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start"));
    }

    /// <summary>Ctrl+C: SIGINT to the whole process group, then waits for the command to exit.</summary>
    public async Task<int> InterruptAsync(TimeSpan timeout)
    {
        await SignalGroupAsync("INT");

        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    private async Task SignalGroupAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, "--", "-" + _process.Id]);
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0 && !_process.HasExited)
        {
            throw new InvalidOperationException($"kill -{signal} -- -{_process.Id} failed ({kill.ExitCode})");
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await SignalGroupAsync("KILL");
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
