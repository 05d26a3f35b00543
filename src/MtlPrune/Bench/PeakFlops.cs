using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace MtlPrune.Bench;

/// <summary>
/// Measures the machine's fp32 FMA peak: twelve independent Vector512 (or Vector256) FMA chains per thread, so
/// latency never limits throughput. Returns the best of several trials in GFLOP/s.
/// </summary>
public static class PeakFlops
{
    public static double Measure(int threads, int trials = 5, long flopsPerThread = 4_000_000_000)
    {
        double best = 0;
        Chains(1000); // JIT
        for (int t = 0; t < trials; t++)
        {
            long iters = flopsPerThread / (12 * 2 * Lanes);
            var sw = Stopwatch.StartNew();
            var tasks = Enumerable.Range(0, threads).Select(_ => Task.Factory.StartNew(() => Chains(iters), TaskCreationOptions.LongRunning)).ToArray();
            Task.WaitAll(tasks);
            double s = sw.Elapsed.TotalSeconds;
            best = Math.Max(best, iters * 12.0 * 2 * Lanes * threads / s / 1e9);
        }
        return best;
    }

    private static int Lanes => Vector512.IsHardwareAccelerated ? 16 : 8;

    private static float Chains(long iters)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var x = Vector512.Create(1.0001f); var y = Vector512.Create(0.9999f);
            Vector512<float> a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x, a10 = x, a11 = x;
            for (long i = 0; i < iters; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, y, x); a1 = Vector512.FusedMultiplyAdd(a1, y, x); a2 = Vector512.FusedMultiplyAdd(a2, y, x);
                a3 = Vector512.FusedMultiplyAdd(a3, y, x); a4 = Vector512.FusedMultiplyAdd(a4, y, x); a5 = Vector512.FusedMultiplyAdd(a5, y, x);
                a6 = Vector512.FusedMultiplyAdd(a6, y, x); a7 = Vector512.FusedMultiplyAdd(a7, y, x); a8 = Vector512.FusedMultiplyAdd(a8, y, x);
                a9 = Vector512.FusedMultiplyAdd(a9, y, x); a10 = Vector512.FusedMultiplyAdd(a10, y, x); a11 = Vector512.FusedMultiplyAdd(a11, y, x);
            }
            return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).GetElement(0);
        }
        else
        {
            var x = Vector256.Create(1.0001f); var y = Vector256.Create(0.9999f);
            Vector256<float> a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x, a10 = x, a11 = x;
            for (long i = 0; i < iters; i++)
            {
                a0 = Vector256.FusedMultiplyAdd(a0, y, x); a1 = Vector256.FusedMultiplyAdd(a1, y, x); a2 = Vector256.FusedMultiplyAdd(a2, y, x);
                a3 = Vector256.FusedMultiplyAdd(a3, y, x); a4 = Vector256.FusedMultiplyAdd(a4, y, x); a5 = Vector256.FusedMultiplyAdd(a5, y, x);
                a6 = Vector256.FusedMultiplyAdd(a6, y, x); a7 = Vector256.FusedMultiplyAdd(a7, y, x); a8 = Vector256.FusedMultiplyAdd(a8, y, x);
                a9 = Vector256.FusedMultiplyAdd(a9, y, x); a10 = Vector256.FusedMultiplyAdd(a10, y, x); a11 = Vector256.FusedMultiplyAdd(a11, y, x);
            }
            return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).GetElement(0);
        }
    }
}
