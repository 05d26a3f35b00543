using MtlPrune.Engine;
using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Tests;

/// <summary>The packed GEMM against a double-precision loop, across every blocking boundary and transpose layout.</summary>
public class GemmTests
{
    [Theory]
    [InlineData(1, 1, 1, false, false, false)]
    [InlineData(7, 33, 5, false, false, false)]
    [InlineData(270, 1100, 531, false, false, false)]   // M > Mc, N > Nc, K > 2·Kc with a tail not a multiple of 4
    [InlineData(270, 1100, 531, true, false, true)]
    [InlineData(17, 70, 513, false, true, false)]
    [InlineData(9, 40, 257, true, true, true)]
    [InlineData(300, 3, 20, false, false, true)]
    public void MatchesNaive(int m, int n, int k, bool ta, bool tb, bool accumulate)
    {
        var rng = new Rng(3);
        var a = Tensor.Normal(new[] { m * k }, rng).ToArray();
        var b = Tensor.Normal(new[] { k * n }, rng).ToArray();
        var c = Tensor.Normal(new[] { m * n }, rng).ToArray();
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = accumulate ? c[i * n + j] : 0;
                for (int p = 0; p < k; p++)
                    s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                expected[i * n + j] = s;
            }
        foreach (int threads in new[] { 1, 2 })
        {
            var r = (float[])c.Clone();
            Gemm.Sgemm(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, r, n, accumulate, threads);
            double num = 0, den = 0;
            for (int i = 0; i < r.Length; i++) { num += (r[i] - (double)expected[i]) * (r[i] - (double)expected[i]); den += (double)expected[i] * expected[i]; }
            Assert.True(Math.Sqrt(num / Math.Max(den, 1e-30)) <= 1e-5, $"relative error {Math.Sqrt(num / den):E2} with {threads} thread(s)");
        }
    }

    /// <summary>
    /// B rows read in place through an offset table (the convolution's path), with the 8×48 and the 8×32 micro-kernels:
    /// row counts that are and are not multiples of 8, column counts on both sides of whole 48-column steps, K past Kc.
    /// </summary>
    [Theory]
    [InlineData(8, 48, 9, false)]
    [InlineData(13, 47, 300, true)]
    [InlineData(64, 100, 576, false)]
    [InlineData(21, 1100, 257, true)]
    [InlineData(270, 96, 31, false)]
    public unsafe void OffsetsMatchNaive(int m, int n, int k, bool accumulate)
    {
        var rng = new Rng(5);
        var a = Tensor.Normal(new[] { m * k }, rng).ToArray();
        // Rows of B start anywhere in one buffer (overlapping, unaligned), with readable slack past the last one.
        var buf = Tensor.Normal(new[] { 3 * n + 4 * k + 64 }, rng).ToArray();
        var off = new int[k];
        var pick = new Random(11);
        for (int p = 0; p < k; p++) off[p] = pick.Next(0, 2 * n + 4 * k);
        var c = Tensor.Normal(new[] { m * n }, rng).ToArray();
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = accumulate ? c[i * n + j] : 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * buf[off[p] + j];
                expected[i * n + j] = s;
            }
        bool before = Gemm.WideOffsets;
        try
        {
            foreach (bool wide in new[] { true, false })
                foreach (int threads in new[] { 1, 2 })
                {
                    Gemm.WideOffsets = wide;
                    var r = (float[])c.Clone();
                    fixed (float* pa = a) fixed (float* pb = buf) fixed (int* po = off) fixed (float* pr = r)
                        Gemm.RunOffsets(new MatView(pa, k, 1), pb, po, m, n, k, pr, n, accumulate, threads);
                    for (int i = 0; i < r.Length; i++)
                        Assert.True(Math.Abs(r[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i])), $"C[{i / n}, {i % n}] = {r[i]}, expected {expected[i]} (wide {wide}, {threads} thread(s))");
                }
        }
        finally { Gemm.WideOffsets = before; }
    }
}
