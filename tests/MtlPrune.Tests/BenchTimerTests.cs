using MtlPrune.Bench;

namespace MtlPrune.Tests;

public class BenchTimerTests
{
    /// <summary>
    /// Paired timing runs each action once per pair, alternately, after the warm-up: exactly the runs asked for without a
    /// least time; with one, a fast pair gets an odd number of runs, more than asked and at most the cap, and a slow pair
    /// keeps the runs asked for.
    /// </summary>
    [Fact]
    public void PairedRunsAlternateAndFillTheLeastTime()
    {
        var order = new List<char>();
        var (a, b) = BenchTimer.Paired(() => order.Add('a'), () => order.Add('b'), runs: 5, warmup: 2);
        Assert.Equal(5, a.Runs);
        Assert.Equal(5, b.Runs);
        Assert.Equal(string.Concat(Enumerable.Repeat("ab", 7)), new string(order.ToArray()));

        int calls = 0;
        var (fa, fb) = BenchTimer.Paired(() => calls++, () => { }, runs: 5, warmup: 1, minMs: 1000, maxRuns: 41);
        Assert.Equal(41, fa.Runs);
        Assert.Equal(fa.Runs, fb.Runs);
        Assert.Equal(1 + 1 + 41, calls);                    // warm-up, the pair that sizes the runs, the timed runs

        var (sa, _) = BenchTimer.Paired(() => Thread.Sleep(30), () => { }, runs: 3, warmup: 0, minMs: 50, maxRuns: 41);
        Assert.Equal(3, sa.Runs);
    }
}
