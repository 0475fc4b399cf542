// The Discovery service (SDS v1 REST API over DynamoDB) is built in its own issue; for now it only answers /ready.
var builder = WebApplication.CreateBuilder(args);
builder.WebHost.UseUrls(builder.Configuration["Discovery:Url"] ?? "http://127.0.0.1:8080");
var app = builder.Build();
app.MapGet("/ready", () => "LIVE\n");
app.Run();
