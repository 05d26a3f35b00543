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
}
