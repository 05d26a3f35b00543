using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// The phase buffer (<see cref="PaddedConv.PrepareChannels"/>) equals its definition, P_ab[c, n, i, j] = xpad[n, c, s·i + a,
/// s·j + b] for every stored phase, on random geometries: strides 1-3, paddings beyond the kernel, widths from 1, dilations,
/// and sources read through row and channel strides wider than the image (a padded layout's interior). The copy by stride-2
/// column pairs (<see cref="PaddedConv.Deinterleave"/>) and the copy by phase must agree with it alike.
/// </summary>
public unsafe class PhaseBufferTests
{
    [Fact]
    public void PhaseBufferHoldsThePaddedImageSplitByPhase()
    {
        var rng = new Random(11);
        int checkedGeometries = 0;
        for (int trial = 0; trial < 600; trial++)
        {
            int k = rng.Next(1, 4), s = rng.Next(1, 4), d = rng.Next(1, 3), p = rng.Next(0, 4);
            int n = rng.Next(1, 3), c = rng.Next(1, 4), h = rng.Next(1, 12), w = rng.Next(1, 70);
            var g = new PaddedConv.Geometry(n, c, h, w, k, k, s, s, p, p, d, d);
            if (g.Ho < 1 || g.Wo < 1) continue;
            int rowStride = w + rng.Next(0, 3), extraRows = rng.Next(0, 2);
            long channelStride = (long)(h + extraRows) * rowStride, imageStride = c * channelStride;
            var src = new float[n * imageStride + 64];
            for (int i = 0; i < src.Length; i++) src[i] = i + 1;   // every value distinct and nonzero
            var buf = new float[g.BufferSize];
            Array.Fill(buf, float.NaN);
            fixed (float* ps = src) fixed (float* pb = buf) PaddedConv.PrepareChannels(ps, imageStride, channelStride, rowStride, g, pb, 0, c);
            for (int a = 0; a < s; a++)
                for (int b = 0; b < s; b++)
                {
                    if (!g.UsesPhase(a, b)) continue;
                    int phase = g.PhaseIndex(a, b);
                    for (int ci = 0; ci < c; ci++)
                        for (int ni = 0; ni < n; ni++)
                            for (int i = 0; i < g.Hq; i++)
                                for (int j = 0; j < g.Wq; j++)
                                {
                                    int row = s * i + a - p, col = s * j + b - p;
                                    float want = (uint)row < (uint)h && (uint)col < (uint)w ? src[ni * imageStride + ci * channelStride + (long)row * rowStride + col] : 0f;
                                    float got = buf[(phase * c + ci) * g.Plane + (ni * g.Hq + i) * g.Wq + j];
                                    if (got != want) Assert.Fail($"{g}: phase ({a}, {b}) channel {ci} image {ni} at ({i}, {j}): {got}, not {want}");
                                }
                }
            checkedGeometries++;
        }
        Assert.True(checkedGeometries > 300, $"only {checkedGeometries} geometries checked");
    }

    /// <summary>
    /// <see cref="PaddedConv.Prepare"/> with its channels split across cores writes the same buffer as on one thread,
    /// slack included: strides 1 and 2 (column pairs), a dilation, channel counts that do not divide evenly.
    /// </summary>
    [Theory]
    [InlineData(1, 7, 60, 64, 3, 1, 1, 1)]
    [InlineData(2, 8, 66, 80, 3, 2, 1, 1)]
    [InlineData(1, 9, 44, 44, 3, 1, 4, 3)]
    public void PrepareAcrossCoresEqualsOneThread(int n, int c, int h, int w, int k, int s, int p, int d)
    {
        var g = new PaddedConv.Geometry(n, c, h, w, k, k, s, s, p, p, d, d);
        Assert.True((long)g.C * g.Plane >= 1 << 14, "too small to be split");
        var src = new float[n * c * h * w];
        for (int i = 0; i < src.Length; i++) src[i] = i + 1;
        var one = new float[g.BufferSize]; var two = new float[g.BufferSize];
        Array.Fill(one, float.NaN); Array.Fill(two, float.NaN);
        fixed (float* ps = src) fixed (float* p1 = one) fixed (float* p2 = two)
        {
            PaddedConv.Prepare(ps, c * h * w, g, p1, threads: 1);
            PaddedConv.Prepare(ps, c * h * w, g, p2, threads: 2);
        }
        Assert.Equal(one, two);
    }

    /// <summary>The stride-2 split by hand: evens and odds of 0..37 into runs of 19 and 18, and of 0..35 into 17 and 18.</summary>
    [Fact]
    public void DeinterleaveSplitsEvenAndOddColumns()
    {
        foreach (var (evens, odds) in new[] { (19, 18), (17, 18), (16, 16), (0, 5), (33, 0), (40, 40) })
        {
            int used = Math.Max(2 * evens - 1, 2 * odds);
            var s = new float[used];
            for (int i = 0; i < used; i++) s[i] = i;
            var e = new float[evens + 16]; var o = new float[odds + 16];
            Array.Fill(e, -1f); Array.Fill(o, -1f);
            fixed (float* ps = s) fixed (float* pe = e) fixed (float* po = o) PaddedConv.Deinterleave(ps, pe, evens, po, odds);
            for (int k = 0; k < evens + 16; k++) Assert.Equal(k < evens ? 2 * k : -1f, e[k]);
            for (int k = 0; k < odds + 16; k++) Assert.Equal(k < odds ? 2 * k + 1 : -1f, o[k]);
        }
    }
}
