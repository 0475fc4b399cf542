using System.Buffers;
using System.Buffers.Binary;

namespace ProxyMesh.Proxy.Mongo;

/// <summary>Receives each whole message a <see cref="MongoFrameScanner"/> has read; its fields are valid during the call.</summary>
internal interface IMongoMessageSink
{
    void OnMessage(MongoFrameScanner message);
}

/// <summary>What a scan found wrong, if anything.</summary>
internal enum ScanResult
{
    Continue,

    /// <summary>The bytes are not MongoDB messages: the scanner has stopped for good (reported once).</summary>
    DecodingError,

    /// <summary>A message header announced more than the configured maximum size.</summary>
    TooLarge,
}

/// <summary>
/// Reads the MongoDB messages of one direction of one connection as they pass, in place and incrementally: buffers
/// may end anywhere, even inside a header or a BSON key. It keeps only what its stats need (the 16-byte header, a few
/// fixed fields, BSON keys up to 32 bytes, a collection name and a comment of bounded size) and skips everything else by count, so it never
/// holds a frame, however large. BSON is read as far as needed: the command name (first key), its collection, a
/// find's <c>filter._id</c> shape, <c>comment</c>, <c>maxTimeMS</c>; in replies <c>ok</c>, <c>code</c>,
/// <c>cursor.id</c> and the batch length. Document sequences (OP_MSG kind 1), OP_COMPRESSED payloads and
/// legacy insert/update/delete bodies are skipped whole. Every length is checked against its container, so garbage
/// is detected rather than followed.
/// </summary>
/// <param name="maxDecompressedSize">OP_COMPRESSED messages up to this size (uncompressed) are decompressed and their
/// contents read as a message of their original opcode; 0 leaves every one unread.</param>
/// <param name="decompressed">This scanner reads the contents of OP_COMPRESSED messages for another one.</param>
internal sealed class MongoFrameScanner(IMongoMessageSink sink, bool fromServer, int maxMessageSize, int maxDecompressedSize = 0, bool decompressed = false)
{
    public const int HeaderSize = 16;

    /// <summary>Longest collection name kept, in bytes; a longer one is not label material.</summary>
    public const int CollectionLimit = 128;

    /// <summary>Longest comment kept, in bytes: room for Envoy's JSON form around a call site.</summary>
    public const int CommentLimit = 512;

    private const int KeyLimit = 32;
    private const int NamespaceLimit = 255;
    private const int MaxDepth = 3;

    private readonly byte[] _carry = new byte[32];
    private readonly byte[] _key = new byte[KeyLimit];
    private readonly byte[] _namespace = new byte[NamespaceLimit];
    private readonly byte[] _collection = new byte[CollectionLimit];
    private readonly byte[] _comment = new byte[CommentLimit];
    private readonly Context[] _contexts = new Context[MaxDepth];
    private readonly int[] _ends = new int[MaxDepth];

    private Stage _stage = Stage.Header;
    private int _offset;
    private int _carried;
    private int _keyLength;
    private bool _keyTooLong;
    private int _namespaceLength;
    private bool _namespaceTooLong;
    private int _depth;
    private byte _elementType;
    private bool _firstElement;
    private Capture _capture;
    private int _captureWanted;
    private int _captureHave;
    private int _skip;
    private Stage _afterSkip;
    private Context _documentContext;
    private int _documentLimit;
    private Stage _afterDocument;
    private int _bodyEnd;
    private bool _bodySeen;

    /// <summary>Bytes of the current message that go into its CRC-32C: -1 until its flags are read, 0 for none.</summary>
    private int _checksumEnd;
    private uint _crc;

    private byte[]? _compressed;
    private int _compressedLength;
    private int _uncompressedSize;
    private MongoFrameScanner? _contents;

    /// <summary>Whether the document or array whose length is being read is entered (else skipped).</summary>
    private bool _enterValue;
    private int _collectionLength;
    private int _commentLength;

    private enum Stage
    {
        Header,
        MsgFlags,
        SectionKind,
        SequenceSize,
        Checksum,
        CompressedHeader,
        CompressedPayload,
        QueryFlags,
        QueryNamespace,
        QueryNumbers,
        ReplyHeader,
        DocumentLength,
        ElementType,
        ElementKey,
        ValueLength,
        FixedValue,
        CaptureString,
        RegexPattern,
        RegexOptions,
        Skip,
        SkipRest,
        Failed,
    }

    private enum Context
    {
        Command,
        LegacyQuery,
        Filter,
        Reply,
        Cursor,
        Batch,
    }

    private enum Capture
    {
        None,
        Collection,
        Comment,
        Ok,
        Code,
        CursorId,
    }

    public bool Failed => _stage == Stage.Failed;

    /// <summary>The scanner stopped at an OP_MSG whose CRC-32C did not match its bytes.</summary>
    public bool ChecksumMismatch { get; private set; }

    public int Length { get; private set; }

    public int RequestId { get; private set; }

    public int ResponseTo { get; private set; }

    public int OpCode { get; private set; }

    /// <summary>OP_MSG flagBits, OP_QUERY flags or OP_REPLY responseFlags.</summary>
    public int Flags { get; private set; }

    /// <summary>The opcode an OP_COMPRESSED message wraps.</summary>
    public int OriginalOpCode { get; private set; }

    /// <summary>OP_COMPRESSED's compressorId.</summary>
    public byte CompressorId { get; private set; }

    /// <summary>Whether this OP_COMPRESSED message's contents were decompressed and read (as a message of their own, before this one).</summary>
    public bool Decoded { get; private set; }

    /// <summary>The message is the decompressed contents of an OP_COMPRESSED one (already counted as that).</summary>
    public bool IsDecompressed => decompressed;

    public bool FromServer => fromServer;

    /// <summary>Whether the message is a command (OP_MSG body, or OP_QUERY on <c>db.$cmd</c>).</summary>
    public bool IsCommand { get; private set; }

    /// <summary>The command's label index in <see cref="MongoCommands.Labels"/>.</summary>
    public int Command { get; private set; }

    /// <summary>A <c>find</c> command or a legacy OP_QUERY on a collection.</summary>
    public bool IsQuery { get; private set; }

    public bool HasCollection { get; private set; }

    public ReadOnlySpan<byte> Collection => HasCollection ? _collection.AsSpan(0, _collectionLength) : default;

    public bool HasComment { get; private set; }

    public ReadOnlySpan<byte> Comment => HasComment ? _comment.AsSpan(0, _commentLength) : default;

    public IdShape IdShape { get; private set; }

    public bool HasMaxTime { get; private set; }

    public bool HasOk { get; private set; }

    public double Ok { get; private set; }

    public int Code { get; private set; }

    public bool HasCursor { get; private set; }

    public long CursorId { get; private set; }

    /// <summary>Documents in a reply: the cursor batch's length, OP_REPLY's numberReturned, else 1 (the reply itself).</summary>
    public int Documents { get; private set; }

    /// <summary>Reads the next bytes of this direction.</summary>
    public ScanResult Scan(ReadOnlySequence<byte> data)
    {
        if (_stage == Stage.Failed)
        {
            return ScanResult.Continue;
        }

        if (data.IsSingleSegment)
        {
            return Scan(data.FirstSpan);
        }

        foreach (var segment in data)
        {
            var result = Scan(segment.Span);
            if (result != ScanResult.Continue || _stage == Stage.Failed)
            {
                return result;
            }
        }

        return ScanResult.Continue;
    }

    public ScanResult Scan(ReadOnlySpan<byte> input)
    {
        if (_stage == Stage.Failed)
        {
            return ScanResult.Continue;
        }

        while (true)
        {
            var before = input.Length;
            var stage = _stage;
            var position = _offset;
            if (stage == Stage.Header && _carried == 0)
            {
                _crc = Crc32C.Initial;
                _checksumEnd = -1;
            }

            var unread = input;
            var result = Step(ref input);
            if (_checksumEnd != 0 && input.Length < before)
            {
                // Each step reads within one message: add its bytes that precede the checksum.
                var end = position + (before - input.Length);
                if (_checksumEnd > 0)
                {
                    end = Math.Min(end, _checksumEnd);
                }

                if (end > position)
                {
                    _crc = Crc32C.Update(_crc, unread[..(end - position)]);
                }
            }

            if (result != ScanResult.Continue)
            {
                _stage = Stage.Failed;
                return result;
            }

            if (_stage == Stage.Failed)
            {
                return ScanResult.DecodingError;
            }

            if (input.Length == before && _stage == stage)
            {
                return ScanResult.Continue;
            }
        }
    }

    private ScanResult Step(ref ReadOnlySpan<byte> input)
    {
        ReadOnlySpan<byte> value;
        switch (_stage)
        {
            case Stage.Header:
                if (!TryTake(ref input, HeaderSize, out value))
                {
                    break;
                }

                return StartMessage(value);

            case Stage.MsgFlags:
                if (TryTake(ref input, 4, out value))
                {
                    Flags = BinaryPrimitives.ReadInt32LittleEndian(value);
                    // Bits 0-15 are required: a parser must fail on one it does not know.
                    _bodyEnd = Length - ((Flags & MongoFlags.ChecksumPresent) != 0 ? 4 : 0);
                    // Inside OP_COMPRESSED the header is rebuilt, not received: its checksum is skipped, not verified.
                    _checksumEnd = (Flags & MongoFlags.ChecksumPresent) != 0 && !decompressed ? _bodyEnd : 0;
                    if ((Flags & 0xFFFC) != 0 || _bodyEnd < _offset + 1)
                    {
                        Fail();
                        break;
                    }

                    _stage = Stage.SectionKind;
                }

                break;

            case Stage.SectionKind:
                if (_offset == _bodyEnd)
                {
                    _stage = !_bodySeen ? Stage.Failed : _checksumEnd > 0 ? Stage.Checksum : Stage.SkipRest;
                    break;
                }

                if (TryTake(ref input, 1, out value))
                {
                    if (value[0] == 0 && !_bodySeen)
                    {
                        _bodySeen = true;
                        BeginDocument(fromServer ? Context.Reply : Context.Command, _bodyEnd, Stage.SectionKind);
                    }
                    else if (value[0] == 1 && _offset + 4 <= _bodyEnd)
                    {
                        _stage = Stage.SequenceSize;
                    }
                    else
                    {
                        Fail();
                    }
                }

                break;

            case Stage.SequenceSize:
                if (TryTake(ref input, 4, out value))
                {
                    var size = BinaryPrimitives.ReadInt32LittleEndian(value);
                    if (size < 5 || size - 4 > _bodyEnd - _offset)
                    {
                        Fail();
                        break;
                    }

                    SkipThen(size - 4, Stage.SectionKind);
                }

                break;

            case Stage.Checksum:
                if (TryTake(ref input, 4, out value))
                {
                    if (Crc32C.Final(_crc) != BinaryPrimitives.ReadUInt32LittleEndian(value))
                    {
                        ChecksumMismatch = true;
                        Fail();
                        break;
                    }

                    _stage = Stage.SkipRest;
                }

                break;

            case Stage.CompressedHeader:
                if (TryTake(ref input, 9, out value))
                {
                    OriginalOpCode = BinaryPrimitives.ReadInt32LittleEndian(value);
                    _uncompressedSize = BinaryPrimitives.ReadInt32LittleEndian(value[4..]);
                    CompressorId = value[8];
                    _stage = Stage.SkipRest;
                    if (maxDecompressedSize > 0 && !decompressed && CompressorId <= MongoCompressors.Zstd
                        && _uncompressedSize > 0 && _uncompressedSize <= maxDecompressedSize - HeaderSize)
                    {
                        _compressedLength = 0;
                        _compressed = ArrayPool<byte>.Shared.Rent(Length - _offset);
                        _stage = Stage.CompressedPayload;
                    }
                }

                break;

            case Stage.CompressedPayload:
                var payload = Math.Min(Length - _offset, input.Length);
                input[..payload].CopyTo(_compressed.AsSpan(_compressedLength));
                input = input[payload..];
                _compressedLength += payload;
                _offset += payload;
                if (_offset == Length)
                {
                    return ReadCompressedContents();
                }

                break;

            case Stage.QueryFlags:
                if (TryTake(ref input, 4, out value))
                {
                    Flags = BinaryPrimitives.ReadInt32LittleEndian(value);
                    _namespaceLength = 0;
                    _namespaceTooLong = false;
                    _stage = Stage.QueryNamespace;
                }

                break;

            case Stage.QueryNamespace:
                if (ScanCString(ref input, _namespace, ref _namespaceLength, ref _namespaceTooLong, Length - 8))
                {
                    ReadNamespace();
                    _stage = Stage.QueryNumbers;
                }

                break;

            case Stage.QueryNumbers:
                if (TryTake(ref input, 8, out _))
                {
                    if (_offset + 5 > Length)
                    {
                        Fail();
                        break;
                    }

                    BeginDocument(IsCommand ? Context.Command : Context.LegacyQuery, Length, Stage.SkipRest);
                }

                break;

            case Stage.ReplyHeader:
                if (TryTake(ref input, 20, out value))
                {
                    Flags = BinaryPrimitives.ReadInt32LittleEndian(value);
                    CursorId = BinaryPrimitives.ReadInt64LittleEndian(value[4..]);
                    HasCursor = true;
                    Documents = BinaryPrimitives.ReadInt32LittleEndian(value[16..]);
                    if (Documents > 0 && _offset + 5 <= Length)
                    {
                        BeginDocument(Context.Reply, Length, Stage.SkipRest);
                    }
                    else
                    {
                        _stage = Stage.SkipRest;
                    }
                }

                break;

            case Stage.DocumentLength:
                if (TryTake(ref input, 4, out value))
                {
                    var length = BinaryPrimitives.ReadInt32LittleEndian(value);
                    if (length < 5 || length - 4 > _documentLimit - _offset)
                    {
                        Fail();
                        break;
                    }

                    Push(_documentContext, _offset - 4 + length);
                }

                break;

            case Stage.ElementType:
                if (_offset >= _ends[_depth - 1])
                {
                    Fail();
                    break;
                }

                if (_contexts[_depth - 1] == Context.Batch && _carried == 0)
                {
                    SkipBatchDocuments(ref input);
                    if (_stage != Stage.ElementType || input.IsEmpty)
                    {
                        break;
                    }
                }

                if (TryTake(ref input, 1, out value))
                {
                    ElementType(value[0]);
                }

                break;

            case Stage.ElementKey:
                if (ScanCString(ref input, _key, ref _keyLength, ref _keyTooLong, _ends[_depth - 1] - 1))
                {
                    ElementValue();
                }

                break;

            case Stage.ValueLength:
                if (TryTake(ref input, 4, out value))
                {
                    LengthPrefixedValue(BinaryPrimitives.ReadInt32LittleEndian(value));
                }

                break;

            case Stage.FixedValue:
                if (TryTake(ref input, _captureWanted, out value))
                {
                    CaptureFixed(value);
                    _stage = Stage.ElementType;
                }

                break;

            case Stage.CaptureString:
                CaptureStringBytes(ref input);
                break;

            case Stage.RegexPattern:
            case Stage.RegexOptions:
                var ignored = 0;
                var tooLong = false;
                if (ScanCString(ref input, null, ref ignored, ref tooLong, _ends[_depth - 1] - 1))
                {
                    _stage = _stage == Stage.RegexPattern ? Stage.RegexOptions : Stage.ElementType;
                }

                break;

            case Stage.Skip:
                var skipped = Math.Min(_skip, input.Length);
                input = input[skipped..];
                _offset += skipped;
                _skip -= skipped;
                if (_skip == 0)
                {
                    _stage = _afterSkip;
                }

                break;

            case Stage.SkipRest:
                var rest = Math.Min(Length - _offset, input.Length);
                input = input[rest..];
                _offset += rest;
                if (_offset == Length)
                {
                    _stage = Stage.Header;
                    _offset = 0;
                    sink.OnMessage(this);
                }

                break;
        }

        return ScanResult.Continue;
    }

    private ScanResult StartMessage(ReadOnlySpan<byte> header)
    {
        Length = BinaryPrimitives.ReadInt32LittleEndian(header);
        RequestId = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        ResponseTo = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        OpCode = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        Flags = 0;
        OriginalOpCode = 0;
        CompressorId = 0;
        Decoded = false;
        IsCommand = false;
        Command = MongoCommands.Other;
        IsQuery = false;
        HasCollection = false;
        HasComment = false;
        IdShape = IdShape.Absent;
        HasMaxTime = false;
        HasOk = false;
        Ok = 0;
        Code = 0;
        HasCursor = false;
        CursorId = 0;
        Documents = 1;
        _bodySeen = false;
        _depth = 0;
        if (OpCode != MongoOpCode.Msg)
        {
            _checksumEnd = 0;
        }

        var minimum = OpCode switch
        {
            MongoOpCode.Msg => HeaderSize + 4 + 1 + 5,
            MongoOpCode.Compressed => HeaderSize + 9,
            MongoOpCode.Query => HeaderSize + 4 + 2 + 8 + 5,
            MongoOpCode.Reply => HeaderSize + 20,
            MongoOpCode.GetMore => HeaderSize + 4 + 1 + 4 + 8,
            MongoOpCode.Insert => HeaderSize + 4 + 1,
            MongoOpCode.KillCursors => HeaderSize + 8,
            MongoOpCode.Update or MongoOpCode.Delete => HeaderSize + 4 + 1 + 4 + 5,
            _ => -1,
        };

        // An unknown opcode is not MongoDB, whatever its length says (HTTP's "GET " reads as half a gigabyte).
        if (minimum < 0)
        {
            Fail();
            return ScanResult.Continue;
        }

        if (Length > maxMessageSize)
        {
            return ScanResult.TooLarge;
        }

        if (Length < minimum)
        {
            Fail();
            return ScanResult.Continue;
        }

        _stage = OpCode switch
        {
            MongoOpCode.Msg => Stage.MsgFlags,
            MongoOpCode.Compressed => Stage.CompressedHeader,
            MongoOpCode.Query => Stage.QueryFlags,
            MongoOpCode.Reply => Stage.ReplyHeader,
            _ => Stage.SkipRest,
        };
        return ScanResult.Continue;
    }

    /// <summary>
    /// Decompresses a whole OP_COMPRESSED payload and reads it, behind a header of its original opcode, with a scanner of
    /// its own, which reports it to the sink; then reports this message. Contents that do not decompress to their
    /// announced size, or do not parse, are a decoding error.
    /// </summary>
    private ScanResult ReadCompressedContents()
    {
        var compressed = _compressed!;
        _compressed = null;
        var contents = ArrayPool<byte>.Shared.Rent(HeaderSize + _uncompressedSize);
        try
        {
            var message = contents.AsSpan(0, HeaderSize + _uncompressedSize);
            if (!MongoCompressors.TryDecompress(CompressorId, compressed, _compressedLength, message[HeaderSize..]))
            {
                Fail();
                return ScanResult.Continue;
            }

            BinaryPrimitives.WriteInt32LittleEndian(message, message.Length);
            BinaryPrimitives.WriteInt32LittleEndian(message[4..], RequestId);
            BinaryPrimitives.WriteInt32LittleEndian(message[8..], ResponseTo);
            BinaryPrimitives.WriteInt32LittleEndian(message[12..], OriginalOpCode);
            _contents ??= new MongoFrameScanner(sink, fromServer, maxMessageSize, decompressed: true);
            if (_contents.Scan(message) != ScanResult.Continue || !_contents.AtMessageStart)
            {
                _contents = null;
                Fail();
                return ScanResult.Continue;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
            ArrayPool<byte>.Shared.Return(contents);
        }

        Decoded = true;
        _stage = Stage.Header;
        _offset = 0;
        sink.OnMessage(this);
        return ScanResult.Continue;
    }

    /// <summary>Between messages, having read every one it was given whole.</summary>
    private bool AtMessageStart => _stage == Stage.Header && _carried == 0;

    /// <summary>OP_QUERY's fullCollectionName: <c>db.$cmd</c> carries a command, any other names the queried collection.</summary>
    private void ReadNamespace()
    {
        var name = _namespace.AsSpan(0, _namespaceLength);
        var dot = name.IndexOf((byte)'.');
        if (_namespaceTooLong || dot < 0)
        {
            return;
        }

        var collection = name[(dot + 1)..];
        if (collection.SequenceEqual("$cmd"u8))
        {
            IsCommand = true;
        }
        else
        {
            IsQuery = true;
            SetCollection(collection);
        }
    }

    private void SetCollection(ReadOnlySpan<byte> collection)
    {
        if (collection.Length is > 0 and <= CollectionLimit)
        {
            collection.CopyTo(_collection);
            _collectionLength = collection.Length;
            HasCollection = true;
        }
    }

    private void BeginDocument(Context context, int limit, Stage after)
    {
        _documentContext = context;
        _documentLimit = limit;
        _afterDocument = after;
        _firstElement = context == Context.Command;
        if (_offset + 4 > limit)
        {
            Fail();
            return;
        }

        _stage = Stage.DocumentLength;
    }

    private void Push(Context context, int end)
    {
        _contexts[_depth] = context;
        _ends[_depth] = end;
        _depth++;
        _stage = Stage.ElementType;
    }

    private void ElementType(byte type)
    {
        if (type == 0)
        {
            if (_offset != _ends[_depth - 1])
            {
                Fail();
                return;
            }

            _depth--;
            _stage = _depth == 0 ? _afterDocument : Stage.ElementType;
            return;
        }

        if (_contexts[_depth - 1] == Context.Batch)
        {
            Documents++;
        }

        _elementType = type;
        _keyLength = 0;
        _keyTooLong = false;
        _stage = Stage.ElementKey;
    }

    /// <summary>Decides, from where it stands and its key, whether an element's value is read, entered or skipped.</summary>
    private void ElementValue()
    {
        var key = _keyTooLong ? default : _key.AsSpan(0, _keyLength);
        var context = _contexts[_depth - 1];
        var type = _elementType;
        _capture = Capture.None;
        var enter = false;
        switch (context)
        {
            case Context.Command when _firstElement:
                _firstElement = false;
                Command = _keyTooLong ? MongoCommands.Other : MongoCommands.Lookup(key);
                IsCommand = true;
                IsQuery = Command == MongoCommands.Find;
                if (type == BsonType.String)
                {
                    _capture = Capture.Collection;
                }

                break;
            case Context.Command:
                if (type == BsonType.Document && IsQuery && key.SequenceEqual("filter"u8))
                {
                    enter = true;
                }
                else if (key.SequenceEqual("comment"u8))
                {
                    _capture = type == BsonType.String ? Capture.Comment : Capture.None;
                }
                else if (key.SequenceEqual("maxTimeMS"u8))
                {
                    HasMaxTime = true;
                }

                break;
            case Context.LegacyQuery:
                if (type == BsonType.Document && key.SequenceEqual("$query"u8))
                {
                    enter = true;
                }
                else if (key.SequenceEqual("_id"u8))
                {
                    IdShape = ShapeOf(type);
                }
                else if (key.SequenceEqual("$comment"u8))
                {
                    _capture = type == BsonType.String ? Capture.Comment : Capture.None;
                }
                else if (key.SequenceEqual("$maxTimeMS"u8))
                {
                    HasMaxTime = true;
                }

                break;
            case Context.Filter:
                if (key.SequenceEqual("_id"u8))
                {
                    IdShape = ShapeOf(type);
                }

                break;
            case Context.Reply:
                if (key.SequenceEqual("ok"u8))
                {
                    _capture = type is BsonType.Double or BsonType.Int32 or BsonType.Int64 or BsonType.Boolean ? Capture.Ok : Capture.None;
                }
                else if (key.SequenceEqual("code"u8))
                {
                    _capture = type == BsonType.Int32 ? Capture.Code : Capture.None;
                }
                else if (type == BsonType.Document && key.SequenceEqual("cursor"u8))
                {
                    enter = true;
                    HasCursor = true;
                }

                break;
            case Context.Cursor:
                if (key.SequenceEqual("id"u8))
                {
                    _capture = type == BsonType.Int64 ? Capture.CursorId : Capture.None;
                }
                else if (type == BsonType.Array && (key.SequenceEqual("firstBatch"u8) || key.SequenceEqual("nextBatch"u8)))
                {
                    enter = true;
                    Documents = 0;
                }

                break;
        }

        var end = _ends[_depth - 1] - 1;
        var size = BsonType.FixedSize(type);
        if (size >= 0)
        {
            if (size > end - _offset)
            {
                Fail();
            }
            else if (_capture != Capture.None && size > 0)
            {
                _captureWanted = size;
                _stage = Stage.FixedValue;
            }
            else
            {
                SkipThen(size, Stage.ElementType);
            }

            return;
        }

        switch (type)
        {
            case BsonType.String or BsonType.JavaScript or BsonType.Symbol or BsonType.Document or BsonType.Array
                or BsonType.Binary or BsonType.DbPointer or BsonType.JavaScriptWithScope:
                if (4 > end - _offset)
                {
                    Fail();
                    return;
                }

                _documentContext = enter ? ChildOf(context) : context;
                _capture = enter ? Capture.None : _capture;
                _stage = Stage.ValueLength;
                _enterValue = enter;
                break;
            case BsonType.Regex:
                _stage = Stage.RegexPattern;
                break;
            default:
                Fail();
                break;
        }
    }

    /// <summary>
    /// The hot path of large replies: counts and skips the documents of a cursor batch while each one's header
    /// (type, index key, length) lies whole in the buffer, without a state change per element. Stops, leaving the
    /// general path to carry on, at the batch's end, at a header split across buffers, or at anything unusual.
    /// </summary>
    private void SkipBatchDocuments(ref ReadOnlySpan<byte> input)
    {
        var end = _ends[_depth - 1] - 1;
        while (input.Length >= 7 && input[0] == BsonType.Document)
        {
            var nul = input[1..Math.Min(input.Length, 1 + KeyLimit)].IndexOf((byte)0);
            var header = 1 + nul + 1 + 4;
            if (nul < 0 || header > input.Length || header > end - _offset)
            {
                return;
            }

            var length = BinaryPrimitives.ReadInt32LittleEndian(input[(header - 4)..]);
            if (length < 5 || length - 4 > end - _offset - header)
            {
                Fail();
                return;
            }

            Documents++;
            var whole = header + length - 4;
            if (whole > input.Length)
            {
                _offset += input.Length;
                SkipThen(whole - input.Length, Stage.ElementType);
                input = default;
                return;
            }

            _offset += whole;
            input = input[whole..];
        }
    }

    private static Context ChildOf(Context context) => context switch
    {
        Context.Reply => Context.Cursor,
        Context.Cursor => Context.Batch,
        _ => Context.Filter,
    };

    private static IdShape ShapeOf(byte type) => type is BsonType.Document or BsonType.Array ? IdShape.Multi : IdShape.Single;

    /// <summary>The rest of a length-prefixed value, its 4-byte length just read.</summary>
    private void LengthPrefixedValue(int length)
    {
        var end = _ends[_depth - 1] - 1;
        var room = end - _offset;
        switch (_elementType)
        {
            case BsonType.Document or BsonType.Array or BsonType.JavaScriptWithScope:
                if (length < 5 || length - 4 > room)
                {
                    Fail();
                }
                else if (_enterValue && _depth < MaxDepth)
                {
                    Push(_documentContext, _offset - 4 + length);
                }
                else
                {
                    SkipThen(length - 4, Stage.ElementType);
                }

                break;
            case BsonType.Binary:
                if (length < 0 || length > room - 1)
                {
                    Fail();
                }
                else
                {
                    SkipThen(length + 1, Stage.ElementType);
                }

                break;
            case BsonType.DbPointer:
                if (length < 1 || length > room - 12)
                {
                    Fail();
                }
                else
                {
                    SkipThen(length + 12, Stage.ElementType);
                }

                break;
            default:
                if (length < 1 || length > room)
                {
                    Fail();
                }
                else if ((_capture == Capture.Collection && length - 1 <= CollectionLimit) || (_capture == Capture.Comment && length - 1 <= CommentLimit))
                {
                    _captureWanted = length;
                    _captureHave = 0;
                    _stage = Stage.CaptureString;
                }
                else
                {
                    SkipThen(length, Stage.ElementType);
                }

                break;
        }
    }

    private void CaptureStringBytes(ref ReadOnlySpan<byte> input)
    {
        var target = _capture == Capture.Collection ? _collection : _comment;
        var wanted = _captureWanted;
        var count = Math.Min(wanted - _captureHave, input.Length);

        // The string's own NUL terminator lands one past the label bytes: copy it nowhere.
        var labelBytes = Math.Max(0, Math.Min(count, wanted - 1 - _captureHave));
        input[..labelBytes].CopyTo(target.AsSpan(_captureHave));
        if (labelBytes < count && input[labelBytes] != 0)
        {
            Fail();
            return;
        }

        input = input[count..];
        _offset += count;
        _captureHave += count;
        if (_captureHave < wanted)
        {
            return;
        }

        if (_capture == Capture.Collection)
        {
            _collectionLength = wanted - 1;
            HasCollection = _collectionLength > 0;
        }
        else
        {
            _commentLength = wanted - 1;
            HasComment = true;
        }

        _stage = Stage.ElementType;
    }

    private void CaptureFixed(ReadOnlySpan<byte> value)
    {
        switch (_capture)
        {
            case Capture.Ok:
                HasOk = true;
                Ok = _elementType switch
                {
                    BsonType.Double => BinaryPrimitives.ReadDoubleLittleEndian(value),
                    BsonType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(value),
                    BsonType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(value),
                    _ => value[0],
                };
                break;
            case Capture.Code:
                Code = BinaryPrimitives.ReadInt32LittleEndian(value);
                break;
            case Capture.CursorId:
                CursorId = BinaryPrimitives.ReadInt64LittleEndian(value);
                break;
        }
    }

    private void SkipThen(int count, Stage after)
    {
        _skip = count;
        _afterSkip = after;
        _stage = count == 0 ? after : Stage.Skip;
    }

    private void Fail() => _stage = Stage.Failed;

    /// <summary>Takes <paramref name="count"/> bytes: in place when the buffer has them all, else gathered across buffers.</summary>
    private bool TryTake(scoped ref ReadOnlySpan<byte> input, int count, out ReadOnlySpan<byte> value)
    {
        if (_carried == 0 && input.Length >= count)
        {
            value = input[..count];
            input = input[count..];
            _offset += count;
            return true;
        }

        var n = Math.Min(count - _carried, input.Length);
        input[..n].CopyTo(_carry.AsSpan(_carried));
        input = input[n..];
        _carried += n;
        _offset += n;
        if (_carried < count)
        {
            value = default;
            return false;
        }

        _carried = 0;
        value = _carry.AsSpan(0, count);
        return true;
    }

    /// <summary>Reads a NUL-terminated string that must end before <paramref name="limit"/>, keeping its first bytes.</summary>
    /// <returns>True once the terminator has been read.</returns>
    private bool ScanCString(ref ReadOnlySpan<byte> input, byte[]? keep, ref int kept, ref bool tooLong, int limit)
    {
        var nul = input.IndexOf((byte)0);
        var count = nul < 0 ? input.Length : nul + 1;
        if (count > limit - _offset)
        {
            Fail();
            return false;
        }

        var text = nul < 0 ? input : input[..nul];
        if (keep is not null && !tooLong)
        {
            if (kept + text.Length > keep.Length)
            {
                tooLong = true;
            }
            else
            {
                text.CopyTo(keep.AsSpan(kept));
                kept += text.Length;
            }
        }

        input = input[count..];
        _offset += count;
        return nul >= 0;
    }
}
