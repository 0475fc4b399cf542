using System.Collections.Frozen;
using System.Text;

namespace ProxyMesh.Proxy.Mongo;

/// <summary>
/// The fixed set of MongoDB command names used as the <c>cmd</c> label; any other name counts as <c>other</c>, so no
/// client can grow the label set. Legacy lower-case aliases count under their current name.
/// </summary>
internal static class MongoCommands
{
    public const string OtherName = "other";

    /// <summary>The label values; the last is <see cref="OtherName"/>.</summary>
    public static readonly string[] Labels =
    [
        "find", "insert", "update", "delete", "findAndModify", "aggregate", "count", "distinct", "getMore", "killCursors",
        "bulkWrite", "mapReduce", "create", "createIndexes", "drop", "dropDatabase", "dropIndexes", "listCollections",
        "listDatabases", "listIndexes", "renameCollection", "collMod", "hello", "isMaster", "ping", "buildInfo",
        "serverStatus", "hostInfo", "getLastError", "getParameter", "setParameter", "saslStart", "saslContinue",
        "authenticate", "logout", "connectionStatus", "startSession", "endSessions", "killSessions", "refreshSessions",
        "abortTransaction", "commitTransaction", "explain", "dbStats", "collStats", "validate", "getCmdLineOpts",
        "currentOp", "killOp", "profile", "compact", "reIndex", "createUser", "dropUser", "updateUser", "usersInfo",
        "createRole", "dropRole", "rolesInfo", "listCommands", "whatsmyuri", "getnonce", "replSetGetStatus", "fsync",
        "convertToCapped", "shardCollection", "enableSharding", "getLog", "lockInfo", "top", "dataSize", "geoNear",
        "cleanupOrphaned", "setFeatureCompatibilityVersion", "shutdown", OtherName,
    ];

    private static readonly FrozenDictionary<string, int> ByName = Build();

    private static readonly FrozenDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> ByChars =
        ByName.GetAlternateLookup<ReadOnlySpan<char>>();

    public static readonly int Find = IndexOf("find");

    public static readonly int Other = Labels.Length - 1;

    /// <summary>The longest name in the table, in bytes: longer keys are <c>other</c> without a lookup.</summary>
    public static readonly int MaxNameLength = MaxLength();

    /// <summary>The label index of a command name given as the UTF-8 bytes of a BSON key; allocates nothing.</summary>
    public static int Lookup(ReadOnlySpan<byte> utf8Name)
    {
        if (utf8Name.Length == 0 || utf8Name.Length > MaxNameLength)
        {
            return Other;
        }

        Span<char> chars = stackalloc char[MaxNameLength];
        for (var i = 0; i < utf8Name.Length; i++)
        {
            var b = utf8Name[i];
            if (b >= 0x80)
            {
                return Other;
            }

            chars[i] = (char)b;
        }

        return ByChars.TryGetValue(chars[..utf8Name.Length], out var index) ? index : Other;
    }

    public static int IndexOf(string name) => ByName.TryGetValue(name, out var index) ? index : Other;

    private static FrozenDictionary<string, int> Build()
    {
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < Labels.Length - 1; i++)
        {
            byName[Labels[i]] = i;
        }

        byName["ismaster"] = byName["isMaster"];
        byName["buildinfo"] = byName["buildInfo"];
        return byName.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static int MaxLength()
    {
        var max = 0;
        foreach (var label in Labels)
        {
            max = Math.Max(max, Encoding.ASCII.GetByteCount(label));
        }

        return max;
    }
}
