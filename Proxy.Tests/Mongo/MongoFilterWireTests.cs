using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using MongoDB.Bson;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Tcp;
using ProxyMesh.Proxy.Tests.Infrastructure;
using static ProxyMesh.Proxy.Tests.Mongo.WireFrames;

namespace ProxyMesh.Proxy.Tests.Mongo;

/// <summary>The Mongo filter driven directly with scripted wire bytes, for what no test server sends.</summary>
public sealed class MongoFilterWireTests
{
    [Fact]
    public async Task The_scripted_conversation_yields_envoys_stats_from_every_opcode()
    {
        using var harness = FilterHarness.Create();
        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(Conversation.Requests));
        Assert.Equal(TcpFilterVerdict.Continue, harness.Up(Conversation.Replies));

        await AssertExpectedAsync(harness);
    }

    [Fact]
    public async Task Requests_split_at_every_byte_boundary_give_the_same_stats()
    {
        var expected = await WholeConversationAsync();
        for (var cut = 1; cut < Conversation.Requests.Length; cut++)
        {
            using var harness = FilterHarness.Create();
            harness.DownInPieces(Conversation.Requests, [cut]);
            harness.Up(Conversation.Replies);
            Assert.Equal(expected, await harness.SnapshotAsync());
        }
    }

    [Fact]
    public async Task Replies_split_at_every_byte_boundary_give_the_same_stats()
    {
        var expected = await WholeConversationAsync();
        for (var cut = 1; cut < Conversation.Replies.Length; cut++)
        {
            using var harness = FilterHarness.Create();
            harness.Down(Conversation.Requests);
            harness.UpInPieces(Conversation.Replies, [cut]);
            Assert.Equal(expected, await harness.SnapshotAsync());
        }
    }

    [Fact]
    public async Task One_byte_buffers_and_multi_segment_buffers_give_the_same_stats()
    {
        var expected = await WholeConversationAsync();
        using (var bytewise = FilterHarness.Create())
        {
            bytewise.DownInPieces(Conversation.Requests, Enumerable.Range(1, Conversation.Requests.Length));
            bytewise.UpInPieces(Conversation.Replies, Enumerable.Range(1, Conversation.Replies.Length));
            Assert.Equal(expected, await bytewise.SnapshotAsync());
        }

        using var segmented = FilterHarness.Create();
        segmented.DownInPieces(Conversation.Requests, Enumerable.Range(1, Conversation.Requests.Length / 3).Select(i => i * 3), multiSegment: true);
        segmented.UpInPieces(Conversation.Replies, Enumerable.Range(1, Conversation.Replies.Length / 7).Select(i => i * 7), multiSegment: true);
        Assert.Equal(expected, await segmented.SnapshotAsync());
    }

    [Property(MaxTest = 60)]
    public Property Random_chunking_gives_the_same_stats() =>
        Prop.ForAll(
            Gen.ListOf(Gen.Choose(1, Conversation.Requests.Length - 1)).ToArbitrary(),
            Gen.ListOf(Gen.Choose(1, Conversation.Replies.Length - 1)).ToArbitrary(),
            (downCuts, upCuts) =>
            {
                var expected = WholeConversationAsync().GetAwaiter().GetResult();
                using var harness = FilterHarness.Create();
                harness.DownInPieces(Conversation.Requests, downCuts);
                harness.UpInPieces(Conversation.Replies, upCuts, multiSegment: upCuts.Count % 2 == 1);
                var actual = harness.SnapshotAsync().GetAwaiter().GetResult();
                return actual.SequenceEqual(expected);
            });

    [Fact]
    public async Task Reply_time_is_measured_from_request_to_reply_on_the_injected_clock()
    {
        using var harness = FilterHarness.Create();
        harness.Down(Msg(1, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument("_id", 1), ["maxTimeMS"] = 5 }));
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_query_active"));
        harness.Time.Advance(TimeSpan.FromMilliseconds(250));
        harness.Up(Msg(2, 1, CursorReply(1)));

        Assert.Equal(0.25, await harness.ValueAsync("proxymesh_mongo_cmd_reply_time_seconds_sum", "cmd=\"find\""), 6);
        Assert.Equal(0.25, await harness.ValueAsync("proxymesh_mongo_collection_query_reply_time_seconds_sum", "collection=\"users\""), 6);
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_query_active"));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_query_no_max_time_total"));
    }

    [Fact]
    public async Task A_reply_batch_larger_than_any_buffer_is_counted_without_being_kept()
    {
        using var harness = FilterHarness.Create();
        harness.Down(Msg(1, 0, new BsonDocument { ["find"] = "big", ["filter"] = new BsonDocument() }));
        var reply = Msg(2, 1, CursorReply(2000, padding: 1000));
        Assert.True(reply.Length > 2_000_000);
        harness.UpInPieces(reply, Enumerable.Range(1, reply.Length / 4096).Select(i => i * 4096));

        Assert.Equal(2000, await harness.ValueAsync("proxymesh_mongo_collection_query_reply_docs_sum", "collection=\"big\""));
        Assert.Equal(reply.Length, await harness.ValueAsync("proxymesh_mongo_collection_query_reply_size_bytes_sum", "collection=\"big\""));
    }

    [Fact]
    public async Task Garbage_is_forwarded_counted_once_and_ends_sniffing_for_the_connection()
    {
        using var harness = FilterHarness.Create();
        var find = Msg(1, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument() });
        harness.Down(find);
        var garbage = "GET / HTTP/1.1\r\nHost: example\r\n\r\n"u8.ToArray();
        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(garbage));
        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(find));
        Assert.Equal(TcpFilterVerdict.Continue, harness.Up(Msg(2, 1, CursorReply(1))));

        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_decoding_error_total"));
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"find\""));
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_op_total", "op=\"msg\""));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_query_active"));
    }

    public static TheoryData<string, byte[]> Malformed => new()
    {
        { "length below a header", Header(12, 1, 0, OpMsg) },
        { "unknown opcode", Concat(Header(20, 1, 0, 9999), new byte[4]) },
        { "OP_MSG with an unknown required flag bit", Msg(1, 0, new BsonDocument("ping", 1), flags: 1 << 3) },
        { "OP_MSG without a body section", Concat(Header(21, 1, 0, OpMsg), new byte[4], [1]) },
        { "BSON document longer than its message", CorruptDocumentLength(Msg(1, 0, new BsonDocument("ping", 1)), 4000) },
        { "BSON document shorter than its elements", CorruptDocumentLength(Msg(1, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument() }), 9) },
        { "unknown BSON type", CorruptFirstElementType(Msg(1, 0, new BsonDocument("ping", 1)), 0x42) },
        { "kind 1 section longer than the message", Msg(1, 0, new BsonDocument("insert", "c"), 0, ("documents", [new BsonDocument("a", 1)]))[..^3] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_message_is_a_decoding_error_and_never_closes(string what, byte[] frame)
    {
        using var harness = FilterHarness.Create();
        var follower = Msg(7, 0, new BsonDocument("ping", 1));
        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(Concat(frame, follower, follower)));
        Assert.True(await harness.ValueAsync("proxymesh_mongo_decoding_error_total") == 1, what);
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"ping\""));
    }

    [Fact]
    public async Task A_truncated_header_waits_for_the_rest_and_counts_nothing_yet()
    {
        using var harness = FilterHarness.Create();
        var ping = Msg(1, 0, new BsonDocument("ping", 1));
        harness.Down(ping[..10]);
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_op_total", "op=\"msg\""));
        harness.Down(ping[10..]);
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"ping\""));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_decoding_error_total"));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(48_000_001)]
    public async Task An_absurd_length_closes_the_connection(int length)
    {
        using var harness = FilterHarness.Create();
        Assert.Equal(TcpFilterVerdict.Close, harness.Down(Header(length, 1, 0, OpMsg)[..16]));
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_message_too_large_total"));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_decoding_error_total"));
    }

    [Fact]
    public async Task MaxMessageSize_applies_to_replies_too()
    {
        using var harness = FilterHarness.Create(mongo: ("MaxMessageSize", "1000"));
        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(Msg(1, 0, new BsonDocument { ["find"] = "c", ["filter"] = new BsonDocument() })));
        Assert.Equal(TcpFilterVerdict.Close, harness.Up(Msg(2, 1, CursorReply(100))));
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_message_too_large_total"));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_query_active"));
    }

    [Fact]
    public async Task Collections_beyond_MaxCollections_and_unknown_commands_count_as_other()
    {
        using var harness = FilterHarness.Create(mongo: ("MaxCollections", "2"));
        foreach (var collection in new[] { "a", "b", "c", "d", "a" })
        {
            harness.Down(Msg(1, 0, new BsonDocument { ["find"] = collection, ["filter"] = new BsonDocument() }));
        }

        harness.Down(Msg(2, 0, new BsonDocument("myOwnCommand", 1)));
        harness.Down(Msg(3, 0, new BsonDocument(new string('z', 300), 1)));

        Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_collection_query_total", "collection=\"a\""));
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_collection_query_total", "collection=\"b\""));
        Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_collection_query_total", "collection=\"other\""));
        Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"other\""));
        Assert.DoesNotContain("myOwnCommand", await harness.ScrapeAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Call_sites_beyond_MaxCallSites_count_as_other()
    {
        using var harness = FilterHarness.Create(mongo: ("MaxCallSites", "1"));
        foreach (var comment in new[] { "first", "second", "third", "first" })
        {
            harness.Down(Msg(1, 0, new BsonDocument { ["find"] = "c", ["filter"] = new BsonDocument(), ["comment"] = comment }));
        }

        Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_callsite_query_total", "collection=\"c\",callsite=\"first\""));
        Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_callsite_query_total", "collection=\"c\",callsite=\"other\""));
    }

    [Fact]
    public async Task Fault_delay_holds_a_request_buffer_for_the_configured_time()
    {
        using var harness = FilterHarness.Create(new FixedRandom(0.3), ("Delay:Percent", "50"), ("Delay:Duration", "00:00:02"));
        var ping = Msg(1, 0, new BsonDocument("ping", 1));

        var delayed = harness.Filter.OnDownstreamDataAsync(FilterHarness.Sequence(ping), CancellationToken.None);
        Assert.False(delayed.IsCompleted);
        harness.Time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.False(delayed.IsCompleted);
        harness.Time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(TcpFilterVerdict.Continue, await delayed.AsTask().WaitAsync(TimeSpan.FromSeconds(30)));

        var partial = harness.Filter.OnDownstreamDataAsync(FilterHarness.Sequence(ping[..10]), CancellationToken.None);
        Assert.True(partial.IsCompleted, "a buffer that completes no request is not delayed");
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_delay_injected_total"));
    }

    [Fact]
    public async Task Fault_delay_spares_requests_above_the_percentage()
    {
        using var harness = FilterHarness.Create(new FixedRandom(0.7), ("Delay:Percent", "50"), ("Delay:Duration", "00:00:02"));
        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(Msg(1, 0, new BsonDocument("ping", 1))));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_delay_injected_total"));
    }

    [Theory]
    [InlineData(TcpCloseInitiator.Remote, "proxymesh_mongo_cx_destroy_remote_with_active_rq_total", "proxymesh_mongo_cx_destroy_local_with_active_rq_total")]
    [InlineData(TcpCloseInitiator.Local, "proxymesh_mongo_cx_destroy_local_with_active_rq_total", "proxymesh_mongo_cx_destroy_remote_with_active_rq_total")]
    public async Task Closing_with_queries_in_flight_counts_by_who_closed_and_releases_them(TcpCloseInitiator initiator, string counted, string other)
    {
        var harness = FilterHarness.Create();
        harness.Down(Msg(1, 0, new BsonDocument { ["find"] = "c", ["filter"] = new BsonDocument() }));
        harness.Down(Msg(2, 0, new BsonDocument { ["find"] = "c", ["filter"] = new BsonDocument() }));
        Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_query_active"));
        harness.Filter.OnClosed(initiator);
        harness.Dispose();
        harness.Dispose();

        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_query_active"));
        Assert.Equal(1, await harness.ValueAsync(counted));
        Assert.Equal(0, await harness.ValueAsync(other));
    }

    [Fact]
    public async Task Closing_with_every_query_answered_counts_nothing()
    {
        var harness = FilterHarness.Create();
        harness.Down(Msg(1, 0, new BsonDocument { ["find"] = "c", ["filter"] = new BsonDocument() }));
        harness.Up(Msg(2, 1, CursorReply(1)));
        harness.Filter.OnClosed(TcpCloseInitiator.Remote);
        harness.Dispose();

        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_cx_destroy_remote_with_active_rq_total"));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_cx_destroy_local_with_active_rq_total"));
    }

    [Fact]
    public async Task A_checksummed_message_is_verified_across_every_split_and_read()
    {
        var find = Msg(1, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument("_id", 7), ["$db"] = "test" }, ChecksumPresent);
        var reply = Msg(2, 1, CursorReply(3), ChecksumPresent);
        Assert.Equal(0xE3069283u, Crc32C("123456789"u8)); // The CRC-32C check value: the test's own CRC is right.
        for (var cut = 1; cut < find.Length; cut++)
        {
            using var harness = FilterHarness.Create();
            harness.DownInPieces(find, [cut, cut + 3]);
            harness.UpInPieces(reply, [reply.Length - cut]);

            Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_decoding_error_total"));
            Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"find\""));
            Assert.Equal(3, await harness.ValueAsync("proxymesh_mongo_cmd_reply_docs_sum", "cmd=\"find\""));
            Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_op_flag_total", "op=\"msg\",flag=\"checksum_present\""));
        }
    }

    [Theory]
    [InlineData(0)] // A flipped bit in the body.
    [InlineData(1)] // A flipped bit in the checksum itself.
    public async Task A_bad_checksum_is_a_decoding_error_and_the_bytes_still_pass(int where)
    {
        using var harness = FilterHarness.Create();
        var find = Msg(1, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument() }, ChecksumPresent);
        var corrupt = (byte[])find.Clone();
        corrupt[where == 0 ? 30 : corrupt.Length - 1] ^= 0x01;

        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(corrupt));
        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(find));
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_decoding_error_total"));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"find\""));
    }

    [Theory]
    [InlineData(0, "noop")]
    [InlineData(1, "snappy")]
    [InlineData(2, "zlib")]
    [InlineData(3, "zstd")]
    public async Task Compressed_messages_are_read_inside_when_Decompress_is_on(byte compressorId, string compressor)
    {
        var find = CompressedOf(Msg(1, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument("_id", new BsonDocument("$in", new BsonArray { 1, 2 })), ["comment"] = "load-user" }), compressorId);
        var reply = CompressedOf(Msg(2, 1, CursorReply(2, cursorId: 99), ChecksumPresent), compressorId);
        for (var cut = 1; cut < find.Length; cut += 5)
        {
            using var harness = FilterHarness.Create(mongo: ("Decompress", "true"));
            harness.DownInPieces(find, [cut]);
            harness.Time.Advance(TimeSpan.FromMilliseconds(40));
            harness.UpInPieces(reply, [reply.Length - cut]);

            Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_decoding_error_total"));
            Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_op_total", "op=\"compressed\""));
            Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_op_total", "op=\"msg\""));
            Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_op_compressed_total", "original_op=\"msg\""));
            Assert.Equal(2, await harness.ValueAsync("proxymesh_mongo_compressed_decoded_total", $"compressor=\"{compressor}\""));
            Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"find\""));
            Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_collection_multi_get_total", "collection=\"users\""));
            Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_callsite_query_total", "collection=\"users\",callsite=\"load-user\""));
            Assert.Equal(0.04, await harness.ValueAsync("proxymesh_mongo_cmd_reply_time_seconds_sum", "cmd=\"find\""), 6);
            Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_reply_valid_cursor_total"));
            Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_op_flag_total", "op=\"msg\",flag=\"checksum_present\""));
            Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_query_active"));
        }
    }

    [Fact]
    public async Task Compressed_messages_are_counted_unread_when_Decompress_is_off_too_large_or_of_an_unknown_compressor()
    {
        var find = Msg(1, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument() });
        using (var off = FilterHarness.Create())
        {
            Assert.Equal(TcpFilterVerdict.Continue, off.Down(CompressedOf(find, 2)));
            Assert.Equal(1, await off.ValueAsync("proxymesh_mongo_compressed_undecoded_total", "compressor=\"zlib\""));
            Assert.Equal(0, await off.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"find\""));
        }

        using (var small = FilterHarness.Create(null, ("Decompress", "true"), ("MaxDecompressedSize", "40")))
        {
            Assert.Equal(TcpFilterVerdict.Continue, small.Down(CompressedOf(find, 3)));
            Assert.Equal(1, await small.ValueAsync("proxymesh_mongo_compressed_undecoded_total", "compressor=\"zstd\""));
            Assert.Equal(0, await small.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"find\""));
        }

        using var unknown = FilterHarness.Create(mongo: ("Decompress", "true"));
        var frame = CompressedOf(find, 2);
        frame[24] = 9; // compressorId
        Assert.Equal(TcpFilterVerdict.Continue, unknown.Down(frame));
        Assert.Equal(TcpFilterVerdict.Continue, unknown.Down(find));
        Assert.Equal(1, await unknown.ValueAsync("proxymesh_mongo_compressed_undecoded_total", "compressor=\"unknown\""));
        Assert.Equal(1, await unknown.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"find\""));
        Assert.Equal(0, await unknown.ValueAsync("proxymesh_mongo_decoding_error_total"));
    }

    [Theory]
    [InlineData("corrupt payload")]
    [InlineData("wrong size")]
    [InlineData("not a message inside")]
    public async Task A_compressed_message_that_does_not_decompress_into_a_message_is_a_decoding_error(string what)
    {
        using var harness = FilterHarness.Create(mongo: ("Decompress", "true"));
        var find = Msg(1, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument() });
        var frame = what == "not a message inside" ? CompressedOf(Concat(find[..16], "garbage that is no OP_MSG body"u8.ToArray()), 2) : CompressedOf(find, 2);
        if (what == "corrupt payload")
        {
            frame[30] ^= 0xFF;
        }
        else if (what == "wrong size")
        {
            BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(20), BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(20)) + 1);
        }

        Assert.Equal(TcpFilterVerdict.Continue, harness.Down(frame));
        Assert.Equal(1, await harness.ValueAsync("proxymesh_mongo_decoding_error_total"));
        Assert.Equal(0, await harness.ValueAsync("proxymesh_mongo_cmd_total", "cmd=\"find\""));
    }

    [Fact]
    public void The_access_log_gets_one_entry_per_answered_operation_when_asked()
    {
        using var harness = FilterHarness.Create(mongo: ("AccessLog", "true"));
        harness.Down(Msg(41, 0, new BsonDocument { ["find"] = "users", ["filter"] = new BsonDocument(), ["comment"] = "x" }));
        harness.Time.Advance(TimeSpan.FromMilliseconds(12));
        var reply = Msg(42, 41, new BsonDocument { ["ok"] = 0.0, ["code"] = 50, ["errmsg"] = "MaxTimeMSExpired" });
        harness.Up(reply);

        Assert.True(harness.AccessLog.TryRead(out var logged));
        var entry = Assert.IsType<AccessLogEntry>(logged);
        Assert.Equal(("find", "users", "mongo", 50, "41", FilterHarness.Listener), (entry.Method, entry.Path, entry.Protocol, entry.ResponseCode, entry.RequestId, entry.Listener));
        Assert.Equal(reply.Length, entry.BytesSent);
        Assert.Equal(12, entry.DurationMilliseconds, 3);
        Assert.False(harness.AccessLog.TryRead(out _));
    }

    [Fact]
    public async Task Every_listener_with_the_filter_exports_its_decoding_errors_at_zero_and_promtool_accepts_the_stats()
    {
        using var harness = FilterHarness.Create();
        Assert.Contains("proxymesh_mongo_decoding_error_total{listener=\"mongo\"} 0", await harness.ScrapeAsync(), StringComparison.Ordinal);

        harness.Down(Conversation.Requests);
        harness.Up(Conversation.Replies);
        Assert.Equal("", await Promtool.CheckMetricsAsync(await harness.ScrapeAsync()));
    }

    public static TheoryData<string, string, string> InvalidOptions => new()
    {
        { "MaxMessageSize", "10", "MaxMessageSize: must be at least 16" },
        { "MaxMessageSize", "big", "Mongo:" },
        { "MaxCollections", "-1", "MaxCollections: must not be negative" },
        { "Delay:Percent", "150", "Delay:Percent: must be between 0 and 100" },
        { "Delay:Percent", "10", "Delay:Duration: must be positive when Delay:Percent is set" },
        { "Delay:Duration", "-00:00:01", "Delay:Duration: must not be negative" },
        { "MaxDecompressedSize", "16", "MaxDecompressedSize: must be above 16" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Invalid_options_are_reported_with_their_key(string key, string value, string problem)
    {
        using var harness = FilterHarness.Create(mongo: (key, value));
        var problems = new List<string>();
        harness.Factory.Validate(FilterHarness.Listener, harness.ListenerSection, problems);
        var reported = Assert.Single(problems);
        Assert.StartsWith($"ProxyMesh:Listeners:{FilterHarness.Listener}:Mongo", reported, StringComparison.Ordinal);
        Assert.Contains(problem, reported, StringComparison.Ordinal);
    }

    [Fact]
    public void Default_options_are_valid()
    {
        using var harness = FilterHarness.Create();
        var problems = new List<string>();
        harness.Factory.Validate(FilterHarness.Listener, harness.ListenerSection, problems);
        Assert.Empty(problems);
        Assert.Equal("Mongo", harness.Factory.Name);
    }

    private static async Task<SortedDictionary<string, double>> WholeConversationAsync()
    {
        using var harness = FilterHarness.Create();
        harness.Down(Conversation.Requests);
        harness.Up(Conversation.Replies);
        return await harness.SnapshotAsync();
    }

    private static async Task AssertExpectedAsync(FilterHarness harness)
    {
        foreach (var (name, labels, value) in Conversation.ExpectedStats)
        {
            Assert.True(await harness.ValueAsync(name, labels) == value, $"{name}{{{labels}}}: expected {value}, was {await harness.ValueAsync(name, labels)}");
        }
    }

    private static byte[] CorruptDocumentLength(byte[] msg, int length)
    {
        var copy = msg.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(16 + 4 + 1), length);
        return copy;
    }

    private static byte[] CorruptFirstElementType(byte[] msg, byte type)
    {
        var copy = msg.ToArray();
        copy[16 + 4 + 1 + 4] = type;
        return copy;
    }
}
