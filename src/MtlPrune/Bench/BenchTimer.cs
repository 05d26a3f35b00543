using System.Diagnostics;

namespace MtlPrune.Bench;

/// <summary>Median, minimum and maximum of repeated runs after warm-up, plus bytes allocated per run.</summary>
public sealed record Timing(double MedianMs, double MinMs, double MaxMs, int Runs, long AllocatedBytesPerRun)
{
    /// <summary>Throughput at the median, in GFLOP/s, for a run of <paramref name="flops"/>.</summary>
    public double Gflops(double flops) => flops / (MedianMs * 1e-3) / 1e9;
}

public static class BenchTimer
{
    /// <summary>Runs <paramref name="action"/> <paramref name="warmup"/> times, then <paramref name="runs"/> timed times.</summary>
    public static Timing Measure(Action action, int runs = 7, int warmup = 2)
    {
        if (runs < 1) throw new ArgumentException("runs must be at least 1.");
        for (int i = 0; i < warmup; i++) action();
        var ms = new double[runs];
        long total0 = GC.GetTotalAllocatedBytes(false);
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            ms[i] = sw.Elapsed.TotalMilliseconds;
        }
        long alloc = GC.GetTotalAllocatedBytes(false) - total0;
        Array.Sort(ms);
        double median = runs % 2 == 1 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
        return new Timing(median, ms[0], ms[^1], runs, alloc / runs);
    }

    /// <summary>
    /// Times <paramref name="a"/> and <paramref name="b"/> alternately (a, b, a, b, …) after warming both up, so that a
    /// clock that drifts during the run affects both alike; returns both timings. With <paramref name="minMs"/>, pairs
    /// that take less than it in all get more runs (as many as fill it, up to <paramref name="maxRuns"/>, an odd count):
    /// five pairs of a 3 ms model span 30 ms, which one burst of the host's load can move.
    /// </summary>
    public static (Timing A, Timing B) Paired(Action a, Action b, int runs = 7, int warmup = 2, double minMs = 0, int maxRuns = 301)
    {
        if (runs < 1) throw new ArgumentException("runs must be at least 1.");
        for (int i = 0; i < warmup; i++) { a(); b(); }
        if (minMs > 0)
        {
            var pair = Stopwatch.StartNew(); a(); b();
            double pairMs = Math.Max(pair.Elapsed.TotalMilliseconds, 1e-3);
            int want = (int)Math.Min(maxRuns, Math.Ceiling(minMs / pairMs)) | 1;
            runs = Math.Max(runs, want);
        }
        var ta = new double[runs]; var tb = new double[runs];
        long total0 = GC.GetTotalAllocatedBytes(false);
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew(); a(); ta[i] = sw.Elapsed.TotalMilliseconds;
            sw.Restart(); b(); tb[i] = sw.Elapsed.TotalMilliseconds;
        }
        long alloc = (GC.GetTotalAllocatedBytes(false) - total0) / (2 * runs);
        return (Summarise(ta, alloc), Summarise(tb, alloc));
    }

    private static Timing Summarise(double[] ms, long alloc)
    {
        Array.Sort(ms);
        int n = ms.Length;
        return new Timing(n % 2 == 1 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2, ms[0], ms[^1], n, alloc);
    }
}
