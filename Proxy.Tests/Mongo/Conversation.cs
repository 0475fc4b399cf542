using MongoDB.Bson;
using static ProxyMesh.Proxy.Tests.Mongo.WireFrames;

namespace ProxyMesh.Proxy.Tests.Mongo;

/// <summary>
/// A scripted client/server exchange covering what CongoDB never sends: legacy opcodes, OP_COMPRESSED, checksums,
/// document sequences, unacknowledged writes (moreToCome) and exhaust replies.
/// </summary>
internal static class Conversation
{
    public static readonly string EnvoyComment = """{"hostname":"api-1","httpUniqueId":"abc","callingFunction":"listOrders"}""";

    public static byte[] Requests { get; } = Concat(
        Query(1, "admin.$cmd", new BsonDocument("isMaster", 1)),
        Msg(2, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument("_id", ObjectId.GenerateNewId()), ["comment"] = "getUser", ["maxTimeMS"] = 100, ["$db"] = "test" }),
        Msg(3, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument("age", 5), ["$db"] = "test" }),
        Msg(4, 0, new BsonDocument { ["find"] = "orders", ["filter"] = new BsonDocument("_id", new BsonDocument("$in", new BsonArray { 1, 2 })), ["comment"] = EnvoyComment, ["$db"] = "test" }),
        Msg(5, 0, new BsonDocument { ["insert"] = "users", ["$db"] = "test" }, ChecksumPresent, ("documents", [new BsonDocument("a", 1), new BsonDocument("a", 2)])),
        Msg(6, 0, new BsonDocument { ["getMore"] = 77L, ["collection"] = "users", ["$db"] = "test" }),
        Msg(7, 0, new BsonDocument { ["update"] = "users", ["$db"] = "test" }, MoreToCome, ("updates", [new BsonDocument { ["q"] = new BsonDocument(), ["u"] = new BsonDocument("$set", new BsonDocument("b", 1)) }])),
        Compressed(8, 0, OpMsg),
        Query(9, "test.users", new BsonDocument { ["$query"] = new BsonDocument("_id", new BsonDocument("a", 1)), ["$comment"] = "legacy", ["$maxTimeMS"] = 10 }, flags: (1 << 1) | (1 << 6)),
        GetMore(10, "test.users", 55),
        Insert(11, "test.users", new BsonDocument("x", 1)),
        KillCursors(12, 55, 56),
        UpdateOrDelete(OpUpdate, 13, "test.users", new BsonDocument("x", 1), new BsonDocument("$set", new BsonDocument("y", 2))),
        UpdateOrDelete(OpDelete, 14, "test.users", new BsonDocument("x", 1)),
        Msg(15, 0, new BsonDocument { ["find"] = "events", ["filter"] = new BsonDocument(), ["$db"] = "test" }, ExhaustAllowed),
        Msg(16, 0, new BsonDocument { ["aggregate"] = "users", ["pipeline"] = new BsonArray(), ["cursor"] = new BsonDocument(), ["$db"] = "test" }));

    public static byte[] Replies { get; } = Concat(
        Reply(901, 1, 0, 0, new BsonDocument { ["ismaster"] = true, ["maxWireVersion"] = 21, ["ok"] = 1.0 }),
        Msg(902, 2, CursorReply(1)),
        Msg(903, 3, CursorReply(3, cursorId: 77)),
        Msg(904, 4, CursorReply(2)),
        Msg(905, 5, new BsonDocument { ["n"] = 2, ["ok"] = 1.0 }),
        Msg(906, 6, new BsonDocument { ["ok"] = 0.0, ["errmsg"] = "cursor id 77 not found", ["code"] = 43, ["codeName"] = "CursorNotFound" }),
        Compressed(908, 8, OpMsg),
        Reply(909, 9, 0, 0, new BsonDocument("_id", 1), new BsonDocument("_id", 2)),
        Reply(910, 10, 1, 0),
        Msg(100, 15, CursorReply(2, cursorId: 5, next: false), MoreToCome),
        Msg(101, 100, CursorReply(2, cursorId: 5, next: true), MoreToCome),
        Msg(102, 101, CursorReply(2, cursorId: 0, next: true)),
        Msg(916, 16, CursorReply(0)));

    /// <summary>The stats the whole conversation yields (listener label left out), whatever the buffering.</summary>
    public static readonly (string Name, string Labels, double Value)[] ExpectedStats =
    [
        ("proxymesh_mongo_op_total", "op=\"msg\"", 17),
        ("proxymesh_mongo_op_total", "op=\"query\"", 2),
        ("proxymesh_mongo_op_total", "op=\"reply\"", 3),
        ("proxymesh_mongo_op_total", "op=\"compressed\"", 2),
        ("proxymesh_mongo_op_total", "op=\"get_more\"", 1),
        ("proxymesh_mongo_op_total", "op=\"insert\"", 1),
        ("proxymesh_mongo_op_total", "op=\"kill_cursors\"", 1),
        ("proxymesh_mongo_op_total", "op=\"update\"", 1),
        ("proxymesh_mongo_op_total", "op=\"delete\"", 1),
        ("proxymesh_mongo_op_compressed_total", "original_op=\"msg\"", 2),
        ("proxymesh_mongo_cmd_total", "cmd=\"isMaster\"", 1),
        ("proxymesh_mongo_cmd_total", "cmd=\"find\"", 4),
        ("proxymesh_mongo_cmd_total", "cmd=\"insert\"", 1),
        ("proxymesh_mongo_cmd_total", "cmd=\"getMore\"", 1),
        ("proxymesh_mongo_cmd_total", "cmd=\"update\"", 1),
        ("proxymesh_mongo_cmd_total", "cmd=\"aggregate\"", 1),
        ("proxymesh_mongo_cmd_reply_docs_count", "cmd=\"find\"", 6),
        ("proxymesh_mongo_cmd_reply_docs_sum", "cmd=\"find\"", 12),
        ("proxymesh_mongo_cmd_reply_docs_sum", "cmd=\"aggregate\"", 0),
        ("proxymesh_mongo_cmd_reply_docs_sum", "cmd=\"isMaster\"", 1),
        ("proxymesh_mongo_collection_query_total", "collection=\"users\"", 3),
        ("proxymesh_mongo_collection_query_total", "collection=\"orders\"", 1),
        ("proxymesh_mongo_collection_query_total", "collection=\"events\"", 1),
        ("proxymesh_mongo_collection_scatter_get_total", "collection=\"users\"", 1),
        ("proxymesh_mongo_collection_scatter_get_total", "collection=\"events\"", 1),
        ("proxymesh_mongo_collection_multi_get_total", "collection=\"orders\"", 1),
        ("proxymesh_mongo_collection_multi_get_total", "collection=\"users\"", 1),
        ("proxymesh_mongo_collection_query_reply_docs_sum", "collection=\"users\"", 6),
        ("proxymesh_mongo_callsite_query_total", "collection=\"users\",callsite=\"getUser\"", 1),
        ("proxymesh_mongo_callsite_query_total", "collection=\"orders\",callsite=\"listOrders\"", 1),
        ("proxymesh_mongo_callsite_query_total", "collection=\"users\",callsite=\"legacy\"", 1),
        ("proxymesh_mongo_callsite_multi_get_total", "collection=\"orders\",callsite=\"listOrders\"", 1),
        ("proxymesh_mongo_query_no_max_time_total", "", 3),
        ("proxymesh_mongo_query_active", "", 0),
        ("proxymesh_mongo_reply_cursor_not_found_total", "", 2),
        ("proxymesh_mongo_reply_query_failure_total", "", 1),
        ("proxymesh_mongo_reply_valid_cursor_total", "", 3),
        ("proxymesh_mongo_op_flag_total", "op=\"query\",flag=\"tailable_cursor\"", 1),
        ("proxymesh_mongo_op_flag_total", "op=\"query\",flag=\"exhaust\"", 1),
        ("proxymesh_mongo_op_flag_total", "op=\"query\",flag=\"await_data\"", 0),
        ("proxymesh_mongo_op_flag_total", "op=\"msg\",flag=\"checksum_present\"", 1),
        ("proxymesh_mongo_op_flag_total", "op=\"msg\",flag=\"more_to_come\"", 3),
        ("proxymesh_mongo_op_flag_total", "op=\"msg\",flag=\"exhaust_allowed\"", 1),
        ("proxymesh_mongo_decoding_error_total", "", 0),
    ];
}
