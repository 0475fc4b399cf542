using Microsoft.Extensions.Time.Testing;
using ProxyMesh.Proxy.Resilience.Retries;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>
/// A deadline tells its own expiry from a client that went away, whichever cancelled it first; a deadline given back
/// unused is reused, with nothing of its previous request left on it.
/// </summary>
public sealed class RouteDeadlineTests
{
    [Fact]
    public void A_client_abort_after_the_deadline_expired_leaves_it_expired()
    {
        var time = new FakeTimeProvider();
        using var client = new CancellationTokenSource();
        using var lease = new RouteDeadline.Pool(time).Start(TimeSpan.FromSeconds(1), client.Token);
        var deadline = lease.Deadline!;

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
        using var lease = new RouteDeadline.Pool(time).Start(TimeSpan.FromSeconds(1), client.Token);
        var deadline = lease.Deadline!;

        client.Cancel();
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(deadline.IsCancellationRequested);
        Assert.False(deadline.Expired);
    }

    [Fact]
    public void Before_either_it_is_neither_cancelled_nor_expired()
    {
        using var lease = new RouteDeadline.Pool(new FakeTimeProvider()).Start(TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.False(lease.Deadline!.IsCancellationRequested);
        Assert.False(lease.Deadline.Expired);
    }

    [Fact]
    public void A_request_without_a_deadline_has_none()
    {
        using RouteDeadline.Pool.Lease none = default;
        Assert.Null(none.Deadline);
    }

    [Fact]
    public void A_deadline_given_back_unused_is_reused_without_its_previous_client_link_or_registrations()
    {
        var pool = new RouteDeadline.Pool(TimeProvider.System);
        using var firstClient = new CancellationTokenSource();
        using var secondClient = new CancellationTokenSource();
        var first = pool.Start(TimeSpan.FromHours(1), firstClient.Token);
        var deadline = first.Deadline!;
        var leftBehindFired = false;
        deadline.Token.Register(() => leftBehindFired = true);
        first.Dispose();

        using var second = pool.Start(TimeSpan.FromHours(1), secondClient.Token);
        Assert.Same(deadline, second.Deadline);

        firstClient.Cancel();
        Assert.False(deadline.IsCancellationRequested);

        secondClient.Cancel();
        Assert.True(deadline.IsCancellationRequested);
        Assert.False(deadline.Expired);
        Assert.False(leftBehindFired);
    }

    [Fact]
    public void A_reused_deadline_expires_after_its_new_limit()
    {
        var pool = new RouteDeadline.Pool(TimeProvider.System);
        pool.Start(TimeSpan.FromHours(1), CancellationToken.None).Dispose();

        using var second = pool.Start(TimeSpan.FromMilliseconds(1), CancellationToken.None);
        Assert.True(second.Deadline!.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(30)), "the reused deadline did not expire");
        Assert.True(second.Deadline.Expired);
    }

    [Fact]
    public void An_expired_or_cancelled_deadline_is_not_reused()
    {
        var time = new FakeTimeProvider();
        var pool = new RouteDeadline.Pool(time);
        using var client = new CancellationTokenSource();
        var expired = pool.Start(TimeSpan.FromSeconds(1), CancellationToken.None);
        var expiredDeadline = expired.Deadline!;
        time.Advance(TimeSpan.FromSeconds(1));
        expired.Dispose();
        var cancelled = pool.Start(TimeSpan.FromSeconds(1), client.Token);
        var cancelledDeadline = cancelled.Deadline!;
        client.Cancel();
        cancelled.Dispose();

        using var next = pool.Start(TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.NotSame(expiredDeadline, next.Deadline);
        Assert.NotSame(cancelledDeadline, next.Deadline);
        Assert.False(next.Deadline!.IsCancellationRequested);
    }
}
