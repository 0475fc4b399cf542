namespace ProxyMesh.Proxy.Mongo;

/// <summary>MongoDB wire protocol opcodes (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/).</summary>
internal static class MongoOpCode
{
    public const int Reply = 1;
    public const int Update = 2001;
    public const int Insert = 2002;
    public const int Query = 2004;
    public const int GetMore = 2005;
    public const int Delete = 2006;
    public const int KillCursors = 2007;
    public const int Compressed = 2012;
    public const int Msg = 2013;
}

/// <summary>The opcodes as stats label values (<c>op</c>), in Envoy's <c>op_*</c> spelling, indexed by <see cref="IndexOf"/>.</summary>
internal static class MongoOpLabel
{
    public const int Other = 9;

    public static readonly string[] Names = ["msg", "compressed", "query", "reply", "get_more", "insert", "kill_cursors", "update", "delete", "other"];

    public static int IndexOf(int opCode) => opCode switch
    {
        MongoOpCode.Msg => 0,
        MongoOpCode.Compressed => 1,
        MongoOpCode.Query => 2,
        MongoOpCode.Reply => 3,
        MongoOpCode.GetMore => 4,
        MongoOpCode.Insert => 5,
        MongoOpCode.KillCursors => 6,
        MongoOpCode.Update => 7,
        MongoOpCode.Delete => 8,
        _ => Other,
    };
}

/// <summary>Flag bits of the message kinds the filter reads.</summary>
internal static class MongoFlags
{
    /// <summary>OP_MSG: a CRC-32C of the message follows its sections.</summary>
    public const int ChecksumPresent = 1 << 0;

    /// <summary>OP_MSG: the sender sends another message without waiting (no reply to a request; more replies to come in exhaust).</summary>
    public const int MoreToCome = 1 << 1;

    /// <summary>OP_MSG request: the client accepts exhaust replies (several replies with <see cref="MoreToCome"/>).</summary>
    public const int ExhaustAllowed = 1 << 16;

    /// <summary>OP_QUERY flags (Envoy's <c>op_query_tailable_cursor</c>, <c>…_no_cursor_timeout</c>, <c>…_await_data</c>, <c>…_exhaust</c>).</summary>
    public const int QueryTailableCursor = 1 << 1;
    public const int QueryNoCursorTimeout = 1 << 4;
    public const int QueryAwaitData = 1 << 5;
    public const int QueryExhaust = 1 << 6;

    /// <summary>OP_REPLY response flags.</summary>
    public const int ReplyCursorNotFound = 1 << 0;
    public const int ReplyQueryFailure = 1 << 1;
}

/// <summary>How a query's filter names <c>_id</c> (Envoy: no <c>_id</c> is a scatter get, a document or array a multi get).</summary>
internal enum IdShape
{
    Absent,
    Single,
    Multi,
}

/// <summary>The BSON element types (https://bsonspec.org/spec.html).</summary>
internal static class BsonType
{
    public const byte Double = 0x01;
    public const byte String = 0x02;
    public const byte Document = 0x03;
    public const byte Array = 0x04;
    public const byte Binary = 0x05;
    public const byte Undefined = 0x06;
    public const byte ObjectId = 0x07;
    public const byte Boolean = 0x08;
    public const byte DateTime = 0x09;
    public const byte Null = 0x0A;
    public const byte Regex = 0x0B;
    public const byte DbPointer = 0x0C;
    public const byte JavaScript = 0x0D;
    public const byte Symbol = 0x0E;
    public const byte JavaScriptWithScope = 0x0F;
    public const byte Int32 = 0x10;
    public const byte Timestamp = 0x11;
    public const byte Int64 = 0x12;
    public const byte Decimal128 = 0x13;
    public const byte MinKey = 0xFF;
    public const byte MaxKey = 0x7F;

    /// <returns>The size of a fixed-size value, 0 for a value-less type, -1 for a length-prefixed or unknown type.</returns>
    public static int FixedSize(byte type) => type switch
    {
        Double or DateTime or Timestamp or Int64 => 8,
        Int32 => 4,
        Boolean => 1,
        ObjectId => 12,
        Decimal128 => 16,
        Undefined or Null or MinKey or MaxKey => 0,
        _ => -1,
    };
}
