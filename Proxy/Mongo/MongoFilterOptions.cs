namespace ProxyMesh.Proxy.Mongo;

/// <summary>The Mongo filter's options: <c>ProxyMesh:Listeners:&lt;name&gt;:Mongo</c> of a TCP listener.</summary>
public sealed class MongoFilterOptions
{
    public const string SectionName = "Mongo";

    /// <summary>MongoDB's own <c>maxMessageSizeBytes</c>.</summary>
    public const int DefaultMaxMessageSize = 48_000_000;

    /// <summary>A message announcing more bytes than this closes the connection (MongoDB's own limit by default).</summary>
    public int MaxMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>Distinct <c>collection</c> label values per listener; later collections are counted as <c>other</c>.</summary>
    public int MaxCollections { get; set; } = 200;

    /// <summary>Distinct (collection, call site) pairs per listener; later ones are counted under call site <c>other</c>.</summary>
    public int MaxCallSites { get; set; } = 200;

    /// <summary>Fixed-delay fault injection (Envoy's mongo_proxy <c>delay</c>): off unless <see cref="MongoDelayOptions.Percent"/> is above 0.</summary>
    public MongoDelayOptions Delay { get; set; } = new();

    /// <summary>Decompress OP_COMPRESSED messages (noop, snappy, zlib, zstd) to read the command inside; off, they are counted unread.</summary>
    public bool Decompress { get; set; }

    /// <summary>Largest decompressed message read (at most <see cref="MaxMessageSize"/>); a larger one is passed on unread (the filter holds a compressed message whole to decompress it).</summary>
    public int MaxDecompressedSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>One access log line per operation (request and its reply), through <c>ProxyMesh:AccessLog</c>.</summary>
    public bool AccessLog { get; set; }

    /// <summary>Reads the options of one listener, defaults for what it does not set.</summary>
    /// <exception cref="InvalidOperationException">A value does not parse.</exception>
    public static MongoFilterOptions Of(IConfigurationSection listener) =>
        listener.GetSection(SectionName).Get<MongoFilterOptions>() ?? new MongoFilterOptions();

    /// <summary>Adds one line per problem, each starting with its configuration key.</summary>
    public void Validate(string path, ICollection<string> problems)
    {
        if (MaxMessageSize < MongoFrameScanner.HeaderSize)
        {
            problems.Add($"{path}:MaxMessageSize: must be at least {MongoFrameScanner.HeaderSize} (bytes)");
        }

        if (MaxDecompressedSize <= MongoFrameScanner.HeaderSize)
        {
            problems.Add($"{path}:MaxDecompressedSize: must be above {MongoFrameScanner.HeaderSize} (bytes)");
        }

        if (MaxCollections < 0)
        {
            problems.Add($"{path}:MaxCollections: must not be negative");
        }

        if (MaxCallSites < 0)
        {
            problems.Add($"{path}:MaxCallSites: must not be negative");
        }

        if (double.IsNaN(Delay.Percent) || Delay.Percent is < 0 or > 100)
        {
            problems.Add($"{path}:Delay:Percent: must be between 0 and 100");
        }

        if (Delay.Duration < TimeSpan.Zero)
        {
            problems.Add($"{path}:Delay:Duration: must not be negative");
        }
        else if (Delay.Percent is > 0 and <= 100 && Delay.Duration == TimeSpan.Zero)
        {
            problems.Add($"{path}:Delay:Duration: must be positive when Delay:Percent is set");
        }
    }
}

/// <summary>Delays the forwarding of requests by a fixed time, for a percentage of the buffers that carry one.</summary>
public sealed class MongoDelayOptions
{
    /// <summary>Percentage (0–100) of request-carrying buffers that are delayed.</summary>
    public double Percent { get; set; }

    /// <summary>How long each delayed buffer waits.</summary>
    public TimeSpan Duration { get; set; }
}
