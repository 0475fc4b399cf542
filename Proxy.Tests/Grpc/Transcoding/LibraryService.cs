using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>The upstream the transcoding tests call through the proxy; it answers with what it received.</summary>
public sealed class LibraryService : Library.LibraryBase
{
    public override Task<Shelf> GetShelf(GetShelfRequest request, ServerCallContext context)
    {
        if (request.Name == "shelves/missing")
        {
            throw new RpcException(new global::Grpc.Core.Status(StatusCode.NotFound, $"shelf {request.Name} does not exist"));
        }

        return Task.FromResult(new Shelf { Name = request.Name, Theme = "fiction", BookCount = 9_007_199_254_740_993L });
    }

    public override Task<ListBooksResponse> ListBooks(ListBooksRequest request, ServerCallContext context) =>
        Task.FromResult(new ListBooksResponse
        {
            Books = { new Book { Name = $"{request.Parent}/books/1", Title = "Dune", Color = Color.Blue } },
            NextPageToken = "next",
            Echo = request,
        });

    public override Task<Book> CreateBook(CreateBookRequest request, ServerCallContext context)
    {
        var book = request.Book.Clone();
        book.Name = $"{request.Parent}/books/{request.RequestId}";
        return Task.FromResult(book);
    }

    public override Task<Book> UpdateBook(UpdateBookRequest request, ServerCallContext context)
    {
        var book = request.Book.Clone();
        book.Labels["mask"] = string.Join(",", request.UpdateMask?.Paths ?? []);
        return Task.FromResult(book);
    }

    public override Task<Empty> DeleteBook(DeleteBookRequest request, ServerCallContext context) => Task.FromResult(new Empty());

    public override Task<Book> GetBookTitle(GetBookRequest request, ServerCallContext context) =>
        Task.FromResult(new Book { Name = request.Name, Title = $"title of {request.Name}", Author = "someone" });

    public override async Task StreamBooks(ListBooksRequest request, IServerStreamWriter<Book> responseStream, ServerCallContext context)
    {
        for (var i = 0; i < request.PageSize; i++)
        {
            await responseStream.WriteAsync(new Book { Name = $"{request.Parent}/books/{i}", Year = 2000 + i });
        }

        if (request.Filter?.Author == "fail")
        {
            throw new RpcException(new global::Grpc.Core.Status(StatusCode.Aborted, "stream failed on purpose"));
        }
    }

    public override Task<FileInfo> GetFile(GetFileRequest request, ServerCallContext context) => Task.FromResult(new FileInfo { Path = request.Path });

    public override Task<Everything> Echo(Everything request, ServerCallContext context) => Task.FromResult(request);

    public override Task<Empty> Fail(FailRequest request, ServerCallContext context)
    {
        var trailers = new Metadata();
        if (request.WithDetails)
        {
            var details = new Google.Rpc.Status
            {
                Code = request.Code,
                Message = request.Message,
                Details =
                {
                    Any.Pack(new Google.Rpc.ErrorInfo { Reason = "BOOK_LOCKED", Domain = "library.example", Metadata = { ["shelf"] = "1" } }),
                    Any.Pack(new Google.Rpc.BadRequest { FieldViolations = { new Google.Rpc.BadRequest.Types.FieldViolation { Field = "title", Description = "too long" } } }),
                },
            };
            trailers.Add("grpc-status-details-bin", details.ToByteArray());
        }

        throw new RpcException(new global::Grpc.Core.Status((StatusCode)request.Code, request.Message), trailers);
    }

    public override Task<Empty> Ping(Empty request, ServerCallContext context) => Task.FromResult(new Empty());
}
