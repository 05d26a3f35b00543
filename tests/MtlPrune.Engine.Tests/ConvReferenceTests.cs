using MtlPrune.Engine;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// The fast convolution kernels (phase buffers, packed GEMM, dot-product weight gradient, flipped-kernel input
/// gradient, col2im) against direct double-precision loops: ‖fast − reference‖ / ‖reference‖ ≤ 1e-5 for the output
/// and both gradients, on every shape of <see cref="OpGradientTests.ConvCases"/> plus larger ones.
/// </summary>
public class ConvReferenceTests
{
    public static TheoryData<int[], int[], int, int, int, int, bool> Cases()
    {
        var d = new TheoryData<int[], int[], int, int, int, int, bool>();
        foreach (var row in OpGradientTests.ConvCases) d.Add((int[])row[0], (int[])row[1], (int)row[2], (int)row[3], (int)row[4], (int)row[5], (bool)row[6]);
        d.Add(new[] { 4, 16, 20, 21 }, new[] { 24, 16, 3, 3 }, 1, 1, 1, 1, false);
        d.Add(new[] { 3, 20, 17, 17 }, new[] { 40, 20, 3, 3 }, 2, 1, 1, 1, false);
        d.Add(new[] { 2, 33, 9, 9 }, new[] { 17, 33, 1, 1 }, 2, 0, 1, 1, true);
        d.Add(new[] { 3, 8, 9, 10 }, new[] { 63, 8, 3, 3 }, 1, 1, 1, 1, false);    // 63 output channels: dot-product weight gradient
        // ≥ 64 output channels: the weight gradient as a packed GEMM (PaddedConv.WeightGradGemmRows), taps not a multiple of 4 or 32.
        d.Add(new[] { 3, 8, 9, 10 }, new[] { 64, 8, 3, 3 }, 1, 1, 1, 1, false);
        d.Add(new[] { 2, 5, 7, 9 }, new[] { 100, 5, 3, 3 }, 1, 1, 1, 1, true);
        d.Add(new[] { 2, 4, 9, 8 }, new[] { 96, 4, 3, 3 }, 2, 1, 1, 1, false);
        d.Add(new[] { 1, 6, 8, 10 }, new[] { 128, 6, 3, 3 }, 1, 2, 2, 1, false);
        d.Add(new[] { 1, 4, 6, 6 }, new[] { 192, 2, 3, 3 }, 1, 1, 1, 2, false);
        d.Add(new[] { 3, 40, 5, 6 }, new[] { 97, 40, 1, 1 }, 1, 0, 1, 1, false);
        d.Add(new[] { 2, 6, 11, 9 }, new[] { 72, 6, 3, 3 }, 2, 1, 1, 1, true);
        d.Add(new[] { 1, 3, 9, 75 }, new[] { 4, 3, 3, 3 }, 2, 1, 1, 1, false);    // wide rows: the vector stride-2 gather, odd width
        d.Add(new[] { 2, 2, 6, 68 }, new[] { 3, 2, 1, 1 }, 2, 0, 1, 1, true);     // even width, no padding
        d.Add(new[] { 1, 4, 48, 50 }, new[] { 6, 4, 3, 3 }, 1, 1, 1, 1, false);   // weight gradient over 2600 columns: two reduction blocks, 6 rows
        d.Add(new[] { 1, 4, 20, 64 }, new[] { 6, 4, 3, 3 }, 1, 1, 1, 1, true);    // row segments straight into the output
        d.Add(new[] { 2, 3, 6, 40 }, new[] { 64, 3, 3, 3 }, 1, 1, 1, 1, false);   // GEMM weight gradient packed by 16×16 transposes (40 = 16 + 16 + 8 positions a row)
        // Dilations as large as the input: the outer taps read only padding and are trimmed (DeadTaps).
        d.Add(new[] { 2, 3, 5, 6 }, new[] { 4, 3, 3, 3 }, 1, 6, 6, 1, true);      // both axes: a 1×1 without padding
        d.Add(new[] { 2, 2, 4, 11 }, new[] { 3, 2, 3, 3 }, 1, 5, 5, 1, false);    // rows only: 1×3, padding (0, 5)
        d.Add(new[] { 2, 3, 6, 6 }, new[] { 4, 3, 3, 3 }, 2, 7, 7, 1, false);     // strided
        d.Add(new[] { 2, 4, 5, 5 }, new[] { 4, 2, 3, 3 }, 1, 6, 6, 2, true);      // grouped
        d.Add(new[] { 1, 2, 3, 4 }, new[] { 2, 2, 5, 5 }, 1, 6, 3, 1, false);     // 5×5: two taps trimmed from each end
        // Dilations large against the map but not dead everywhere: bands of live kernel rows (LiveRows), in each of the
        // layouts of ConvSums.Choose (ConvSumsTests checks which shape takes which), one image or two chunks in parallel.
        d.Add(new[] { 1, 8, 12, 16 }, new[] { 40, 8, 3, 3 }, 1, 6, 6, 1, true);
        d.Add(new[] { 2, 8, 12, 16 }, new[] { 40, 8, 3, 3 }, 1, 6, 6, 1, false);
        d.Add(new[] { 1, 40, 12, 16 }, new[] { 8, 40, 3, 3 }, 1, 6, 6, 1, false);  // copies for the input gradient only
        d.Add(new[] { 1, 5, 10, 9 }, new[] { 7, 5, 3, 3 }, 1, 4, 4, 1, false);    // bands, stacked
        d.Add(new[] { 1, 3, 10, 32 }, new[] { 5, 3, 3, 3 }, 1, 4, 4, 1, true);    // bands, row segments
        d.Add(new[] { 2, 5, 10, 12 }, new[] { 70, 5, 3, 3 }, 1, 5, 5, 1, false);  // bands in the GEMM weight gradient (BandedWeightGrad)
        d.Add(new[] { 1, 6, 8, 10 }, new[] { 128, 6, 3, 3 }, 1, 4, 4, 1, true);
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void KernelsMatchDirectLoops(int[] xs, int[] ws, int s, int p, int d, int groups, bool bias)
    {
        var rng = new Rng(21);
        var x = Tensor.Normal(xs, rng).RequiresGrad_();
        var w = Tensor.Normal(ws, rng).RequiresGrad_();
        var b = bias ? Tensor.Normal(new[] { ws[0] }, rng).RequiresGrad_() : null;
        var y = Tensor.Conv2d(x, w, b, (s, s), (p, p), (d, d), groups);
        var gy = Tensor.Normal(y.Shape, rng);
        y.Backward(gy);

        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], cg = ws[1], kh = ws[2], kw = ws[3], og = o / groups;
        int ho = y.Shape[2], wo = y.Shape[3];
        var ry = new double[y.Numel]; var rgx = new double[x.Numel]; var rgw = new double[w.Numel];
        for (int i = 0; i < n; i++)
            for (int oc = 0; oc < o; oc++)
                for (int yy = 0; yy < ho; yy++)
                    for (int xx = 0; xx < wo; xx++)
                    {
                        int yi = ((i * o + oc) * ho + yy) * wo + xx;
                        double acc = b?[oc] ?? 0, g = gy.Storage[yi];
                        int grp = oc / og;
                        for (int ci = 0; ci < cg; ci++)
                            for (int ki = 0; ki < kh; ki++)
                                for (int kj = 0; kj < kw; kj++)
                                {
                                    int ih = yy * s - p + ki * d, iw = xx * s - p + kj * d;
                                    if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                                    int xi = ((i * c + grp * cg + ci) * h + ih) * wd + iw, wi = ((oc * cg + ci) * kh + ki) * kw + kj;
                                    acc += (double)x.Storage[xi] * w.Storage[wi];
                                    rgx[xi] += g * w.Storage[wi];
                                    rgw[wi] += g * x.Storage[xi];
                                }
                        ry[yi] = acc;
                    }
        TensorAssert.Relative(ry, y.ToArray(), "output");
        TensorAssert.Relative(rgx, x.Grad!.ToArray(), "input gradient");
        TensorAssert.Relative(rgw, w.Grad!.ToArray(), "weight gradient");
    }
}
