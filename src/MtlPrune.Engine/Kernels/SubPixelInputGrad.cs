using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// The input gradient of a stride-2 convolution as four stride-1 convolutions of dY, one per phase of dX (sub-pixel
/// decomposition), instead of dcols = Wᵀ·dY folded back by col2im. Input row r = 2u + a is read by output row oy through
/// kernel row i exactly when 2·oy + i − P = r, that is when a + P − i is even, at oy = u + (a + P − i)/2; so phase a of
/// dX's rows is a correlation of dY with kernel rows i ≡ a + P (mod 2) at row offsets d = (a + P − i)/2, and the same
/// across. dY is copied once into the phase buffer of a stride-1 geometry whose taps cover every offset (a (2D+1)²
/// kernel with padding D, D the largest |d|); each phase is one GEMM over that buffer with its own weights and tap
/// offsets (every FMA a useful one, no column matrix written and folded back); the phases' rows are then interleaved into
/// dX. A 3×3 with padding 1 gives phases of 1, 2, 2 and 4 taps per output channel; a 1×1 without padding only phase
/// (0, 0), the others are zero.
/// </summary>
internal static unsafe class SubPixelInputGrad
{
    /// <summary>
    /// Stride 2 both ways, no dilation, and no phase of dX longer than dY (each phase's rows and columns are output
    /// positions of the stride-1 geometry over dY): true of every stride-2 layer with padding (K − 1)/2 and odd K.
    /// </summary>
    public static bool Fits(in ConvKernels.Shape s)
    {
        var g = s.G;
        return g.Sh == 2 && g.Sw == 2 && g.Dh == 1 && g.Dw == 1 && (s.H + 1) / 2 <= g.Ho && (s.W + 1) / 2 <= g.Wo && g.Ph < g.Kh && g.Pw < g.Kw;
    }

    /// <summary>The fewest output positions per image (Ho·Wo) for which the phases are taken.</summary>
    public const int MinOutputPositions = 1024;

    /// <summary>
    /// Where the phases are taken: <see cref="Fits"/>, a kernel wider than 1×1, and outputs of at least
    /// <see cref="MinOutputPositions"/> positions. Measured in `bench engine` on the Intel Xeon, alternated with GEMM +
    /// col2im: resnet-mini's 16→32 3×3 at 8×16×64×64 (32×32 outputs) 1.50-1.53 → 0.61-0.79 ms; its 32→64 at 16×16
    /// outputs alike (0.79-0.96 against 0.95-1.01), its 64→128 at 8×8 and the 1×1 downsamples slower (phases of 8 columns
    /// padded to 10, and three of four phases zero for a 1×1).
    /// </summary>
    public static bool Applies(in ConvKernels.Shape s) =>
        Fits(s) && (s.G.Kh > 1 || s.G.Kw > 1) && (long)s.G.Ho * s.G.Wo >= MinOutputPositions;

    /// <summary>Kernel indices i in [0, k) that phase a reads, and the offset (a + p − i)/2 of each.</summary>
    private static (int Index, int Offset)[] Taps(int k, int p, int a)
    {
        var r = new List<(int, int)>();
        for (int i = 0; i < k; i++)
            if (((a + p - i) & 1) == 0) r.Add((i, (a + p - i) >> 1));
        return r.ToArray();
    }

    /// <summary>dx (=|+=) the input gradient, for shapes where <see cref="Applies"/>.</summary>
    public static void Backward(ConvKernels.Shape s, float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff, bool accumulate)
    {
        var g = s.G;
        var rows = new[] { Taps(g.Kh, g.Ph, 0), Taps(g.Kh, g.Ph, 1) };
        var cols = new[] { Taps(g.Kw, g.Pw, 0), Taps(g.Kw, g.Pw, 1) };
        int reach = rows.Concat(cols).SelectMany(t => t).Select(t => Math.Abs(t.Offset)).DefaultIfEmpty(0).Max();
        int kk = 2 * reach + 1;
        // Per phase (a, b): A[c, (o, i, j)] = W[o, c, i, j] for each group, and the offset of tap (o, i, j) in the buffer.
        var weights = new float[4][];
        var tapIndex = new int[4][];
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
            {
                int ph = 2 * a + b, per = rows[a].Length * cols[b].Length, taps = s.Og * per;
                var wa = weights[ph] = new float[s.Groups * s.Cg * taps];
                var ti = tapIndex[ph] = new int[taps];
                for (int o = 0, t = 0; o < s.Og; o++)
                    foreach (var (i, di) in rows[a])
                        foreach (var (j, dj) in cols[b])
                        {
                            ti[t] = (o * kk + reach + di) * kk + reach + dj;
                            for (int gi = 0; gi < s.Groups; gi++)
                                for (int c = 0; c < s.Cg; c++)
                                    wa[(gi * s.Cg + c) * taps + t] = w[wOff + (((gi * s.Og + o) * s.Cg + c) * g.Kh + i) * g.Kw + j];
                            t++;
                        }
            }
        var one = new PaddedConv.Geometry(1, s.Og, g.Ho, g.Wo, kk, kk, 1, 1, reach, reach, 1, 1);
        if (s.N == 0) return;
        ConvKernels.ForChunks(ConvKernels.Chunks(s.N, 4L * (one.BufferSize - PaddedConv.Slack) + 16L * s.Cg * one.Plane), (start, count, threads) =>
        {
            var gt = one with { N = count };
            var all = PaddedConv.Offsets(gt);
            var buf = BufferPool.Rent(gt.BufferSize);
            int ld = gt.Plane;
            var sums = BufferPool.Rent(4 * s.Cg * ld);
            var offsets = tapIndex.Select(ti => ti.Select(t => all[t]).ToArray()).ToArray();
            try
            {
                fixed (float* pdy = dy) fixed (float* pb = buf) fixed (float* ps = sums) fixed (float* pdx = dx)
                    for (int gi = 0; gi < s.Groups; gi++)
                    {
                        PaddedConv.Prepare(pdy + dyOff + (long)start * s.OutImage + (long)gi * s.Og * s.Spatial, s.OutImage, gt, pb);
                        for (int ph = 0; ph < 4; ph++)
                        {
                            int taps = offsets[ph].Length;
                            if (taps == 0) continue;
                            fixed (float* pw = weights[ph]) fixed (int* po = offsets[ph])
                                Gemm.RunOffsets(new MatView(pw + (long)gi * s.Cg * taps, taps, 1), pb, po, s.Cg, gt.Columns, taps, ps + (long)ph * s.Cg * ld, ld, false, threads);
                        }
                        var body = new InterleaveBody
                        {
                            Sums = ps, Ld = ld, Cg = s.Cg, Hq = gt.Hq, Wq = gt.Wq, H = s.H, W = s.W, Accumulate = accumulate,
                            Dx = pdx + dxOff + (long)start * s.InImage + (long)gi * s.Cg * s.H * s.W, InImage = s.InImage,
                            Live = (offsets[0].Length > 0 ? 1 : 0) | (offsets[1].Length > 0 ? 2 : 0) | (offsets[2].Length > 0 ? 4 : 0) | (offsets[3].Length > 0 ? 8 : 0),
                        };
                        if (threads > 1) WorkerPool.For(count * s.Cg, ref body);
                        else for (int k = 0; k < count * s.Cg; k++) body.Run(k);
                    }
            }
            finally { BufferPool.Return(buf); BufferPool.Return(sums); }
        });
    }

    /// <summary>
    /// Writes one (image, channel) plane of dX from the four phases' sums: row 2u + a is phase (a, 0)'s row u in the even
    /// columns and phase (a, 1)'s in the odd ones; a phase without taps (bit ph of <see cref="Live"/> clear) gives zeros.
    /// </summary>
    private struct InterleaveBody : IParallelBody
    {
        public float* Sums, Dx; public int Ld, Cg, Hq, Wq, H, W, InImage, Live; public bool Accumulate;
        public void Run(int k)
        {
            int n = k / Cg, c = k - n * Cg;
            float* plane = Dx + (long)n * InImage + (long)c * H * W;
            for (int r = 0; r < H; r++)
            {
                int a = r & 1, u = r >> 1;
                long at = (long)c * Ld + ((long)n * Hq + u) * Wq;
                float* even = (Live >> (2 * a) & 1) != 0 ? Sums + (long)(2 * a) * Cg * Ld + at : null;
                float* odd = (Live >> (2 * a + 1) & 1) != 0 ? Sums + (long)(2 * a + 1) * Cg * Ld + at : null;
                Row(even, odd, plane + (long)r * W, W, Accumulate);
            }
        }
    }

    /// <summary>d[2v] (=|+=) even[v], d[2v + 1] (=|+=) odd[v] for the <paramref name="w"/> floats of d; a null source is zeros.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void Row(float* even, float* odd, float* d, int w, bool accumulate)
    {
        int x = 0;
        if (Simd.Use512 && Avx512F.IsSupported)
        {
            var lo = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            var hi = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            for (; x + 32 <= w; x += 32)
            {
                var e = even == null ? Vector512<float>.Zero : Vector512.Load(even + x / 2);
                var o = odd == null ? Vector512<float>.Zero : Vector512.Load(odd + x / 2);
                var v0 = Avx512F.PermuteVar16x32x2(e, lo, o); var v1 = Avx512F.PermuteVar16x32x2(e, hi, o);
                if (accumulate) { v0 += Vector512.Load(d + x); v1 += Vector512.Load(d + x + 16); }
                v0.Store(d + x); v1.Store(d + x + 16);
            }
        }
        for (; x < w; x++)
        {
            float* src = (x & 1) == 0 ? even : odd;
            float v = src == null ? 0f : src[x >> 1];
            d[x] = accumulate ? d[x] + v : v;
        }
    }
}
