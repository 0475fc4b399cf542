using System.Globalization;
using System.Text.RegularExpressions;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Discovery.Configuration;

/// <summary>
/// Reads the <c>Discovery</c> section into <see cref="DiscoveryOptions"/>, keeping the defaults of the options classes
/// for keys that are not set, and reports one line per problem, each starting with the key it is about.
/// </summary>
internal static partial class DiscoveryOptionsReader
{
    private const string Prefix = DiscoveryOptions.SectionName;
    private static readonly TimeSpan LongestDuration = TimeSpan.FromDays(365);

    private static readonly string[] TopLevelKeys =
    [
        nameof(DiscoveryOptions.Url), nameof(DiscoveryOptions.Env), nameof(DiscoveryOptions.Store), nameof(DiscoveryOptions.HostTtl),
        nameof(DiscoveryOptions.CacheTtl), nameof(DiscoveryOptions.DynamoDb), nameof(DiscoveryOptions.Embedded),
    ];

    private static readonly string[] DynamoDbKeys =
        [nameof(DynamoDbOptions.ServiceUrl), nameof(DynamoDbOptions.Region), nameof(DynamoDbOptions.Table), nameof(DynamoDbOptions.CreateTable)];

    private static readonly string[] EmbeddedKeys = [nameof(EmbeddedStoreOptions.Path)];

    /// <param name="contentRoot">Where a relative <c>Discovery:Embedded:Path</c> resolves.</param>
    public static DiscoveryOptions Read(IConfiguration configuration, string contentRoot, List<string> problems)
    {
        var section = configuration.GetSection(Prefix);
        var dynamo = section.GetSection(nameof(DiscoveryOptions.DynamoDb));
        var embedded = section.GetSection(nameof(DiscoveryOptions.Embedded));
        CheckKnownKeys(section, TopLevelKeys, problems);
        CheckKnownKeys(dynamo, DynamoDbKeys, problems);
        CheckKnownKeys(embedded, EmbeddedKeys, problems);

        var defaults = new DiscoveryOptions();
        return new DiscoveryOptions
        {
            Url = ReadUrl(section, defaults.Url, problems),
            Env = ReadText(section, nameof(DiscoveryOptions.Env), defaults.Env, problems),
            Store = ReadStore(section, defaults.Store, problems),
            HostTtl = ReadDuration(section, nameof(DiscoveryOptions.HostTtl), defaults.HostTtl, TimeSpan.FromSeconds(1), problems),
            CacheTtl = ReadDuration(section, nameof(DiscoveryOptions.CacheTtl), defaults.CacheTtl, TimeSpan.Zero, problems),
            DynamoDb = ReadDynamoDb(dynamo, defaults.DynamoDb, problems),
            Embedded = new EmbeddedStoreOptions { Path = ReadFilePath(embedded, defaults.Embedded.Path, contentRoot, problems) },
        };
    }

    private static void CheckKnownKeys(IConfigurationSection section, string[] known, List<string> problems)
    {
        foreach (var child in section.GetChildren())
        {
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                problems.Add($"{child.Path}: unknown key; expected one of {string.Join(", ", known)}");
            }
        }
    }

    private static string ReadUrl(IConfigurationSection section, string fallback, List<string> problems)
    {
        var url = section[nameof(DiscoveryOptions.Url)] ?? fallback;
        if (!ListenerAddress.TryParse(url, out var address, out var problem))
        {
            problems.Add($"{Prefix}:Url: {problem}");
        }
        else if (address!.IsHttps)
        {
            problems.Add($"{Prefix}:Url: '{url}' must start with http://; the discovery service does not serve TLS itself");
        }
        else if (address.Port == 0 && address.IsLocalhost)
        {
            problems.Add($"{Prefix}:Url: port 0 (any free port) needs an IP address, not localhost");
        }

        return url;
    }

    private static string ReadText(IConfigurationSection section, string key, string fallback, List<string> problems)
    {
        var value = section[key];
        if (value is null)
        {
            return fallback;
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            problems.Add($"{section.Path}:{key}: must not be empty");
        }

        return value;
    }

    private static StoreKind ReadStore(IConfigurationSection section, StoreKind fallback, List<string> problems)
    {
        var value = section[nameof(DiscoveryOptions.Store)];
        if (value is null)
        {
            return fallback;
        }

        foreach (var kind in Enum.GetValues<StoreKind>())
        {
            if (value.Equals(kind.ToString(), StringComparison.OrdinalIgnoreCase))
            {
                return kind;
            }
        }

        problems.Add($"{Prefix}:Store: '{value}' is not a store; use {string.Join(" or ", Enum.GetNames<StoreKind>())}");
        return fallback;
    }

    /// <summary>A duration in seconds (<c>600</c>, <c>0.5</c>) or as <c>hh:mm:ss</c>.</summary>
    private static TimeSpan ReadDuration(IConfigurationSection section, string key, TimeSpan fallback, TimeSpan minimum, List<string> problems)
    {
        var value = section[key];
        if (value is null)
        {
            return fallback;
        }

        TimeSpan duration;
        if (double.TryParse(value, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds))
        {
            duration = Math.Abs(seconds) <= LongestDuration.TotalSeconds ? TimeSpan.FromSeconds(seconds) : TimeSpan.MaxValue;
        }
        else if (!value.Contains(':', StringComparison.Ordinal) || !TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out duration))
        {
            problems.Add($"{section.Path}:{key}: '{value}' is not a duration; use seconds (600) or hh:mm:ss (00:10:00)");
            return fallback;
        }

        if (duration < minimum || duration > LongestDuration)
        {
            problems.Add($"{section.Path}:{key}: '{value}' is out of range; use {minimum.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s to 365 days");
            return fallback;
        }

        return duration;
    }

    private static DynamoDbOptions ReadDynamoDb(IConfigurationSection section, DynamoDbOptions defaults, List<string> problems)
    {
        var serviceUrl = defaults.ServiceUrl;
        var rawUrl = section[nameof(DynamoDbOptions.ServiceUrl)];
        if (!string.IsNullOrEmpty(rawUrl))
        {
            if (Uri.TryCreate(rawUrl, UriKind.Absolute, out var parsed) && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps))
            {
                serviceUrl = parsed;
            }
            else
            {
                problems.Add($"{section.Path}:ServiceUrl: '{rawUrl}' is not an absolute http:// or https:// URL");
            }
        }

        var region = section[nameof(DynamoDbOptions.Region)];
        if (!string.IsNullOrEmpty(region) && !RegionName().IsMatch(region))
        {
            problems.Add($"{section.Path}:Region: '{region}' is not a region name such as us-east-1");
        }

        var table = section[nameof(DynamoDbOptions.Table)] ?? defaults.Table;
        if (!TableName().IsMatch(table))
        {
            problems.Add($"{section.Path}:Table: '{table}' is not a DynamoDB table name (3-255 characters from A-Z a-z 0-9 _ - .)");
        }

        var createTable = defaults.CreateTable;
        var rawCreate = section[nameof(DynamoDbOptions.CreateTable)];
        if (rawCreate is not null && !bool.TryParse(rawCreate, out createTable))
        {
            problems.Add($"{section.Path}:CreateTable: '{rawCreate}' is not true or false");
        }

        return new DynamoDbOptions
        {
            ServiceUrl = serviceUrl,
            Region = string.IsNullOrEmpty(region) ? defaults.Region : region,
            Table = table,
            CreateTable = createTable,
        };
    }

    private static string ReadFilePath(IConfigurationSection section, string fallback, string contentRoot, List<string> problems)
    {
        var path = section[nameof(EmbeddedStoreOptions.Path)] ?? fallback;
        if (string.IsNullOrWhiteSpace(path) || path.EndsWith('/') || path.EndsWith(Path.DirectorySeparatorChar))
        {
            problems.Add($"{section.Path}:Path: '{path}' is not a file path");
            return path;
        }

        return Path.GetFullPath(path, contentRoot);
    }

    [GeneratedRegex(@"^[a-z]{2}(-[a-z0-9]+)+\z")]
    private static partial Regex RegionName();

    [GeneratedRegex(@"^[A-Za-z0-9_.-]{3,255}\z")]
    private static partial Regex TableName();
}
