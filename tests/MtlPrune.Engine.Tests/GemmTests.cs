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
    [InlineData(130, 70, 1300, true)]   // K past two blocks of Gemm.OffsetsKc, M past a block of rows
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

    /// <summary>
    /// The same in segments (<see cref="Segments"/>): segment (s, r) of cols columns reads B from b + s·BOuter + r·BInner and
    /// writes C at c + s·COuter + r·CInner; columns of C outside every segment stay as they were. Segment counts that split
    /// evenly across cores and that do not, columns on both sides of the tile widths.
    /// </summary>
    [Theory]
    [InlineData(16, 3, 4, 56, 40, false)]
    [InlineData(9, 2, 3, 64, 200, true)]
    [InlineData(70, 1, 1, 100, 600, false)]
    [InlineData(24, 5, 1, 9, 77, true)]
    [InlineData(32, 3, 2, 64, 300, true)]    // large enough for two cores: whole segments each
    public unsafe void SegmentsMatchNaive(int m, int outer, int inner, int cols, int k, bool accumulate)
    {
        var rng = new Rng(6);
        long bInner = cols + 3, bOuter = inner * bInner + 5, cInner = cols + 1, cOuter = inner * cInner + 2;
        int ldc = (int)(outer * cOuter + 7);
        var a = Tensor.Normal(new[] { m * k }, rng).ToArray();
        var buf = Tensor.Normal(new[] { (int)(outer * bOuter) + 2 * k + 64 }, rng).ToArray();
        var off = new int[k];
        var pick = new Random(12);
        for (int p = 0; p < k; p++) off[p] = pick.Next(0, 2 * k);
        var c = Tensor.Normal(new[] { m * ldc }, rng).ToArray();
        var expected = c.Select(v => (double)v).ToArray();
        for (int so = 0; so < outer; so++)
            for (int si = 0; si < inner; si++)
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < cols; j++)
                    {
                        long ci = i * ldc + so * cOuter + si * cInner + j;
                        double sum = accumulate ? c[ci] : 0;
                        for (int p = 0; p < k; p++) sum += (double)a[i * k + p] * buf[so * bOuter + si * bInner + off[p] + j];
                        expected[ci] = sum;
                    }
        foreach (int threads in new[] { 1, 2 })
        {
            var r = (float[])c.Clone();
            var seg = new Segments(outer, inner, cols, bOuter, bInner, cOuter, cInner);
            fixed (float* pa = a) fixed (float* pb = buf) fixed (int* po = off) fixed (float* pr = r)
                Gemm.RunOffsets(new MatView(pa, k, 1), pb, po, m, seg, k, pr, ldc, accumulate, threads);
            for (int i = 0; i < r.Length; i++)
                Assert.True(Math.Abs(r[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i])), $"C[{i / ldc}, {i % ldc}] = {r[i]}, expected {expected[i]} ({threads} thread(s))");
        }
    }
}
