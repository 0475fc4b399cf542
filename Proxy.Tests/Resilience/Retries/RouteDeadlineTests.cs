using Microsoft.Extensions.Time.Testing;
using ProxyMesh.Proxy.Resilience.Retries;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>A deadline tells its own expiry from a client that went away, whichever cancelled it first.</summary>
public sealed class RouteDeadlineTests
{
    [Fact]
    public void A_client_abort_after_the_deadline_expired_leaves_it_expired()
    {
        var time = new FakeTimeProvider();
        using var client = new CancellationTokenSource();
        using var deadline = new RouteDeadline(TimeSpan.FromSeconds(1), time);
        using var registration = client.Token.Register(RouteDeadline.CancelForClient, deadline);

        time.Advance(TimeSpan.FromSeconds(1));
        client.Cancel();

        Assert.True(deadline.IsCancellationRequested);
        Assert.True(deadline.Expired);
    }

    [Fact]
    public void A_client_that_leaves_first_cancels_it_without_expiring_it()
    {
        var time = new FakeTimeProvider();
        using var client = new CancellationTokenSource();
        using var deadline = new RouteDeadline(TimeSpan.FromSeconds(1), time);
        using var registration = client.Token.Register(RouteDeadline.CancelForClient, deadline);

        client.Cancel();
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(deadline.IsCancellationRequested);
        Assert.False(deadline.Expired);
    }

    [Fact]
    public void Before_either_it_is_neither_cancelled_nor_expired()
    {
        using var deadline = new RouteDeadline(TimeSpan.FromSeconds(1), new FakeTimeProvider());
        Assert.False(deadline.IsCancellationRequested);
        Assert.False(deadline.Expired);
    }
}
