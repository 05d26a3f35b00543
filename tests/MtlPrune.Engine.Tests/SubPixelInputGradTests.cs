using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// The stride-2 input gradient by phases (<see cref="SubPixelInputGrad"/>) against its definition in double precision,
/// dX[n, c, r, x] = Σ W[o, c, i, j]·dY[n, o, oy, ox] over 2·oy + i − P = r and 2·ox + j − P = x, on random shapes:
/// kernels 1-7 with paddings up to K − 1, odd and even sizes, widths that take the vector interleave and its tail,
/// groups, batches split into chunks, and accumulation into a dX that already holds values.
/// </summary>
public class SubPixelInputGradTests
{
    [Fact]
    public void PhasesEqualTheDefinition()
    {
        var rng = new Random(3);
        int tested = 0;
        for (int trial = 0; trial < 300 && tested < 120; trial++)
        {
            int k = rng.Next(1, 8), p = rng.Next(0, k), groups = rng.Next(1, 3);
            int cg = rng.Next(1, 5), og = rng.Next(1, 6), n = rng.Next(1, 4), h = rng.Next(1, 20), w = rng.Next(1, 80);
            int ho = (h + 2 * p - k) / 2 + 1, wo = (w + 2 * p - k) / 2 + 1;
            if (h + 2 * p < k || w + 2 * p < k) continue;
            var g = new ConvGeometry(cg, h, w, k, k, 2, 2, p, p, 1, 1, ho, wo);
            var s = new ConvKernels.Shape(n, cg * groups, h, w, og * groups, groups, g);
            if (!SubPixelInputGrad.Fits(s)) continue;
            bool accumulate = rng.Next(2) == 0;
            var dy = Enumerable.Range(0, n * s.OutImage).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            var wt = Enumerable.Range(0, s.O * cg * k * k).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            var dx = Enumerable.Range(0, n * s.InImage).Select(_ => accumulate ? (float)rng.NextDouble() : float.NaN).ToArray();
            var want = dx.Select(v => accumulate ? (double)v : 0.0).ToArray();
            for (int ni = 0; ni < n; ni++)
                for (int gi = 0; gi < groups; gi++)
                    for (int o = 0; o < og; o++)
                        for (int c = 0; c < cg; c++)
                            for (int oy = 0; oy < ho; oy++)
                                for (int ox = 0; ox < wo; ox++)
                                    for (int i = 0; i < k; i++)
                                        for (int j = 0; j < k; j++)
                                        {
                                            int r = 2 * oy + i - p, x = 2 * ox + j - p;
                                            if ((uint)r >= (uint)h || (uint)x >= (uint)w) continue;
                                            int oc = gi * og + o, ic = gi * cg + c;
                                            want[((ni * s.C + ic) * h + r) * w + x] += (double)wt[((oc * cg + c) * k + i) * k + j] * dy[((ni * s.O + oc) * ho + oy) * wo + ox];
                                        }
            SubPixelInputGrad.Backward(s, dy, 0, wt, 0, dx, 0, accumulate);
            for (int i = 0; i < dx.Length; i++)
                if (!(Math.Abs(dx[i] - want[i]) <= 1e-5 * (1 + Math.Abs(want[i]))))
                    Assert.Fail($"k{k} p{p} groups {groups} {n}x{s.C}x{h}x{w} -> {s.O} accumulate {accumulate}: dx[{i}] = {dx[i]}, not {want[i]}");
            tested++;
        }
        Assert.True(tested >= 100, $"only {tested} shapes tested");
    }

    /// <summary>Which shapes the phases fit (stride 2, no dilation, no phase of dX longer than dY), and which take them.</summary>
    [Fact]
    public void AppliesToStride2LayersWhosePhasesFitTheOutput()
    {
        static ConvKernels.Shape S(int h, int k, int s, int p, int d = 1)
        {
            int ho = (h + 2 * p - d * (k - 1) - 1) / s + 1;
            return new(1, 4, h, h, 8, 1, new ConvGeometry(4, h, h, k, k, s, s, p, p, d, d, ho, ho));
        }
        Assert.True(SubPixelInputGrad.Fits(S(64, 3, 2, 1)));   // resnet-mini's strided 3×3
        Assert.True(SubPixelInputGrad.Fits(S(65, 3, 2, 1)));   // odd size
        Assert.True(SubPixelInputGrad.Fits(S(64, 1, 2, 0)));   // downsample
        Assert.True(SubPixelInputGrad.Fits(S(288, 7, 2, 3)));  // DeepLab's stem
        Assert.False(SubPixelInputGrad.Fits(S(9, 3, 2, 0)));   // rows 0..8: phase 0 has 5 rows, dY 4
        Assert.False(SubPixelInputGrad.Fits(S(64, 3, 1, 1)));  // stride 1
        Assert.False(SubPixelInputGrad.Fits(S(64, 3, 3, 1)));  // stride 3
        Assert.False(SubPixelInputGrad.Fits(S(64, 3, 2, 2, 2)));   // dilated
        // Taken where measured faster: 3×3 with 32×32 outputs and more; not 16×16, not 1×1.
        Assert.True(SubPixelInputGrad.Applies(S(64, 3, 2, 1)));
        Assert.True(SubPixelInputGrad.Applies(S(288, 7, 2, 3)));
        Assert.False(SubPixelInputGrad.Applies(S(32, 3, 2, 1)));
        Assert.False(SubPixelInputGrad.Applies(S(64, 1, 2, 0)));
    }
}
