using ProxyMesh.Proxy.Resilience.OutlierDetection;

namespace ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

/// <summary>
/// Envoy's ejection rules on the pure core: partial enforcement on injected draws, <c>max_ejection_percent</c>, and the
/// ejection time multiplier — capped where base × multiplier reaches <c>max_ejection_time</c>, decremented once per
/// interval the host is not ejected.
/// </summary>
public sealed class OutlierEjectionRuleTests
{
    private static readonly OutlierDetectionOptions TenToTwentyFive = new()
    {
        BaseEjectionTime = TimeSpan.FromSeconds(10),
        MaxEjectionTime = TimeSpan.FromSeconds(25),
    };

    [Theory]
    [InlineData(0.0, 50, true)]
    [InlineData(0.49, 50, true)]
    [InlineData(0.5, 50, false)]
    [InlineData(0.99, 50, false)]
    [InlineData(0.0, 0, false)]
    [InlineData(0.999999, 100, true)]
    [InlineData(0.2, 25, true)]
    [InlineData(0.25, 25, false)]
    public void A_detected_outlier_is_enforced_with_the_enforcing_percentage(double draw, int enforcing, bool enforced) =>
        Assert.Equal(enforced, OutlierEvaluation.IsEnforced(draw, enforcing));

    [Fact]
    public void Enforcing_between_0_and_100_ejects_that_share_of_uniform_draws()
    {
        var random = new Random(11);
        var enforced = 0;
        for (var i = 0; i < 10_000; i++)
        {
            enforced += OutlierEvaluation.IsEnforced(random.NextDouble(), 30) ? 1 : 0;
        }

        ProxyMesh.Proxy.Tests.LoadBalancing.Binomial.AssertWithin(enforced, 10_000, 0.3, "enforced detections");
    }

    [Theory]
    [InlineData(0, 3, 10, true)] // one host may always be ejected
    [InlineData(1, 3, 10, false)]
    [InlineData(1, 10, 20, true)] // a second of ten hosts is 20 %
    [InlineData(2, 10, 20, false)] // a third would be 30 %
    [InlineData(4, 10, 50, true)]
    [InlineData(5, 10, 50, false)]
    [InlineData(9, 10, 100, true)]
    public void Max_ejection_percent_refuses_an_ejection_that_would_take_more_hosts_out(int active, int hosts, int maxPercent, bool allowed) =>
        Assert.Equal(allowed, OutlierEvaluation.MayEjectAnother(active, hosts, maxPercent));

    [Fact]
    public void The_ejection_time_grows_with_each_ejection_up_to_the_max_and_the_multiplier_stops_there()
    {
        var multiplier = 0;
        var times = new List<double>();
        var multipliers = new List<int>();
        for (var ejection = 0; ejection < 6; ejection++)
        {
            multiplier = OutlierEvaluation.MultiplierAfterEjection(multiplier, TenToTwentyFive);
            multipliers.Add(multiplier);
            times.Add(OutlierEvaluation.EjectionTime(multiplier, TenToTwentyFive).TotalSeconds);
        }

        Assert.Equal([10, 20, 25, 25, 25, 25], times);

        // Envoy raises the multiplier only while base × multiplier is below the max: 30 s ≥ 25 s stops it at 3.
        Assert.Equal([1, 2, 3, 3, 3, 3], multipliers);
    }

    [Fact]
    public void After_many_ejections_two_healthy_intervals_bring_the_next_ejection_back_below_the_max()
    {
        var multiplier = 0;
        for (var ejection = 0; ejection < 20; ejection++)
        {
            multiplier = OutlierEvaluation.MultiplierAfterEjection(multiplier, TenToTwentyFive);
        }

        multiplier = OutlierEvaluation.MultiplierAfterHealthyInterval(OutlierEvaluation.MultiplierAfterHealthyInterval(multiplier));
        multiplier = OutlierEvaluation.MultiplierAfterEjection(multiplier, TenToTwentyFive);

        // 3 → 1 → ejected again: 2 × 10 s. Had the multiplier counted all 20 ejections, it would still be at the max.
        Assert.Equal(TimeSpan.FromSeconds(20), OutlierEvaluation.EjectionTime(multiplier, TenToTwentyFive));
    }

    [Fact]
    public void The_multiplier_decays_by_one_per_healthy_interval_down_to_zero()
    {
        Assert.Equal(2, OutlierEvaluation.MultiplierAfterHealthyInterval(3));
        Assert.Equal(0, OutlierEvaluation.MultiplierAfterHealthyInterval(1));
        Assert.Equal(0, OutlierEvaluation.MultiplierAfterHealthyInterval(0));
    }

    [Fact]
    public void A_max_below_the_base_ejects_for_the_base()
    {
        var options = new OutlierDetectionOptions { BaseEjectionTime = TimeSpan.FromSeconds(30), MaxEjectionTime = TimeSpan.FromSeconds(10) };
        Assert.Equal(TimeSpan.FromSeconds(30), OutlierEvaluation.EjectionTime(OutlierEvaluation.MultiplierAfterEjection(0, options), options));
        Assert.Equal(1, OutlierEvaluation.MultiplierAfterEjection(1, options));
    }
}
