using System.Numerics.Tensors;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Direct depthwise convolution (groups = C, O = C·m, one input channel per output channel): per output plane, each
/// kernel tap adds a weighted slice of the zero-padded input plane to the output rows (vectorised along rows for stride
/// 1). The grouped GEMM would run C separate products with a single output row each; this is several times faster.
/// </summary>
internal static unsafe class DepthwiseConv
{
    public static bool Applies(ConvKernels.Shape s) => s.Groups == s.C && s.Groups > 1 && s.Cg == 1;

    private static float[] PadPlane(ReadOnlySpan<float> plane, int h, int w, int ph, int pw, out int hp, out int wp)
    {
        hp = h + 2 * ph; wp = w + 2 * pw;
        var p = BufferPool.Rent(hp * wp);
        p.AsSpan(0, hp * wp).Clear();
        for (int y = 0; y < h; y++) plane.Slice(y * w, w).CopyTo(p.AsSpan((y + ph) * wp + pw, w));
        return p;
    }

    /// <summary>Writes the Ho×Wo plane <paramref name="plane"/> into <paramref name="dst"/> at row stride <paramref name="wp"/>, zeros elsewhere.</summary>
    private static void ToPaddedWidth(ReadOnlySpan<float> plane, int ho, int wo, int wp, Span<float> dst)
    {
        dst.Clear();
        for (int oh = 0; oh < ho; oh++) plane.Slice(oh * wo, wo).CopyTo(dst.Slice(oh * wp, wo));
    }

    /// <summary>y = depthwise conv(x, w), y fully overwritten (bias added by the caller); planes in parallel.</summary>
    public static void Forward(ConvKernels.Shape s, float[] x, int xOff, float[] w, int wOff, float[] y, int yOff)
    {
        var body = new PlaneBody { S = s, X = x, XOff = xOff, W = w, WOff = wOff, Y = y, YOff = yOff };
        WorkerPool.For(s.N * s.O, ref body);
    }

    private struct PlaneBody : IParallelBody
    {
        public ConvKernels.Shape S; public float[] X, W, Y; public int XOff, WOff, YOff;
        public void Run(int no) => Plane(S, X, XOff, W, WOff, Y, YOff, no);
    }

    /// <summary>Output plane <paramref name="no"/> (image n, channel o).</summary>
    private static void Plane(ConvKernels.Shape s, float[] x, int xOff, float[] w, int wOff, float[] y, int yOff, int no)
    {
        var g = s.G; int m = s.O / s.C, kk = g.Kh * g.Kw;
        int n = no / s.O, o = no % s.O, c = o / m;
        var padded = PadPlane(x.AsSpan(xOff + (n * s.C + c) * s.H * s.W, s.H * s.W), s.H, s.W, g.Ph, g.Pw, out _, out int wp);
        var outp = y.AsSpan(yOff + (n * s.O + o) * s.Spatial, s.Spatial);
        if (g.Sh == 1 && g.Sw == 1)
        {
            // Over the padded width: one multiply-add of the whole plane per tap, then drop the extra columns.
            int cols = (g.Ho - 1) * wp + g.Wo;
            var tmp = BufferPool.Rent(cols);
            tmp.AsSpan(0, cols).Clear();
            for (int ki = 0; ki < g.Kh; ki++)
                for (int kj = 0; kj < g.Kw; kj++)
                    TensorPrimitives.MultiplyAdd(padded.AsSpan(ki * g.Dh * wp + kj * g.Dw, cols), w[wOff + o * kk + ki * g.Kw + kj], tmp.AsSpan(0, cols), tmp.AsSpan(0, cols));
            for (int oh = 0; oh < g.Ho; oh++) tmp.AsSpan(oh * wp, g.Wo).CopyTo(outp.Slice(oh * g.Wo, g.Wo));
            BufferPool.Return(tmp); BufferPool.Return(padded);
            return;
        }
        outp.Clear();
        for (int oh = 0; oh < g.Ho; oh++)
        {
            var row = outp.Slice(oh * g.Wo, g.Wo);
            for (int ki = 0; ki < g.Kh; ki++)
            {
                int r = (oh * g.Sh + ki * g.Dh) * wp;
                for (int kj = 0; kj < g.Kw; kj++)
                {
                    float wv = w[wOff + o * kk + ki * g.Kw + kj];
                    int start = r + kj * g.Dw;
                    if (g.Sw == 1) TensorPrimitives.MultiplyAdd(padded.AsSpan(start, g.Wo), wv, row, row);
                    else for (int ow = 0; ow < g.Wo; ow++) row[ow] += wv * padded[start + ow * g.Sw];
                }
            }
        }
        BufferPool.Return(padded);
    }

    /// <summary>dx (=|+=) the input gradient: each output plane's taps scattered back into a padded input plane.</summary>
    public static void BackwardInput(ConvKernels.Shape s, float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff, bool accumulate)
    {
        var g = s.G; int m = s.O / s.C, kk = g.Kh * g.Kw;
        Parallel.For(0, s.N * s.C, new ParallelOptions { MaxDegreeOfParallelism = Gemm.MaxThreads }, nc =>
        {
            int n = nc / s.C, c = nc % s.C;
            int hp = s.H + 2 * g.Ph, wp = s.W + 2 * g.Pw;
            var acc = BufferPool.Rent(hp * wp);
            acc.AsSpan(0, hp * wp).Clear();
            int cols = (g.Ho - 1) * wp + g.Wo;
            var dyw = g.Sh == 1 && g.Sw == 1 ? BufferPool.Rent(cols) : null;
            for (int o = c * m; o < (c + 1) * m; o++)
            {
                var gp = dy.AsSpan(dyOff + (n * s.O + o) * s.Spatial, s.Spatial);
                if (dyw is not null)
                {
                    // dY over the padded width (zeros in the extra columns), scattered with one multiply-add per tap.
                    ToPaddedWidth(gp, g.Ho, g.Wo, wp, dyw.AsSpan(0, cols));
                    for (int ki = 0; ki < g.Kh; ki++)
                        for (int kj = 0; kj < g.Kw; kj++)
                        {
                            var dst = acc.AsSpan(ki * g.Dh * wp + kj * g.Dw, cols);
                            TensorPrimitives.MultiplyAdd(dyw.AsSpan(0, cols), w[wOff + o * kk + ki * g.Kw + kj], dst, dst);
                        }
                    continue;
                }
                for (int oh = 0; oh < g.Ho; oh++)
                {
                    var grow = gp.Slice(oh * g.Wo, g.Wo);
                    for (int ki = 0; ki < g.Kh; ki++)
                    {
                        int r = (oh * g.Sh + ki * g.Dh) * wp;
                        for (int kj = 0; kj < g.Kw; kj++)
                        {
                            float wv = w[wOff + o * kk + ki * g.Kw + kj];
                            int start = r + kj * g.Dw;
                            if (g.Sw == 1) { var dst = acc.AsSpan(start, g.Wo); TensorPrimitives.MultiplyAdd(grow, wv, dst, dst); }
                            else for (int ow = 0; ow < g.Wo; ow++) acc[start + ow * g.Sw] += wv * grow[ow];
                        }
                    }
                }
            }
            if (dyw is not null) BufferPool.Return(dyw);
            var plane = dx.AsSpan(dxOff + (n * s.C + c) * s.H * s.W, s.H * s.W);
            for (int yy = 0; yy < s.H; yy++)
            {
                var src = acc.AsSpan((yy + g.Ph) * wp + g.Pw, s.W); var d = plane.Slice(yy * s.W, s.W);
                if (accumulate) TensorPrimitives.Add(d, src, d); else src.CopyTo(d);
            }
            BufferPool.Return(acc);
        });
    }

    /// <summary>dw (=|+=) Σ_n Σ_positions dY·x under each tap; output channels in parallel.</summary>
    public static void BackwardWeight(ConvKernels.Shape s, float[] dy, int dyOff, float[] x, int xOff, float[] dw, int dwOff, bool accumulate)
    {
        var g = s.G; int m = s.O / s.C, kk = g.Kh * g.Kw;
        Parallel.For(0, s.O, new ParallelOptions { MaxDegreeOfParallelism = Gemm.MaxThreads }, o =>
        {
            int c = o / m;
            var sums = new double[kk];
            for (int n = 0; n < s.N; n++)
            {
                var padded = PadPlane(x.AsSpan(xOff + (n * s.C + c) * s.H * s.W, s.H * s.W), s.H, s.W, g.Ph, g.Pw, out _, out int wp);
                var gp = dy.AsSpan(dyOff + (n * s.O + o) * s.Spatial, s.Spatial);
                if (g.Sh == 1 && g.Sw == 1)
                {
                    int cols = (g.Ho - 1) * wp + g.Wo;
                    var dyw = BufferPool.Rent(cols);
                    ToPaddedWidth(gp, g.Ho, g.Wo, wp, dyw.AsSpan(0, cols));
                    for (int ki = 0; ki < g.Kh; ki++)
                        for (int kj = 0; kj < g.Kw; kj++)
                            sums[ki * g.Kw + kj] += TensorPrimitives.Dot(dyw.AsSpan(0, cols), padded.AsSpan(ki * g.Dh * wp + kj * g.Dw, cols));
                    BufferPool.Return(dyw); BufferPool.Return(padded);
                    continue;
                }
                for (int oh = 0; oh < g.Ho; oh++)
                {
                    var grow = gp.Slice(oh * g.Wo, g.Wo);
                    for (int ki = 0; ki < g.Kh; ki++)
                    {
                        int r = (oh * g.Sh + ki * g.Dh) * wp;
                        for (int kj = 0; kj < g.Kw; kj++)
                        {
                            int start = r + kj * g.Dw;
                            double v;
                            if (g.Sw == 1) v = TensorPrimitives.Dot(grow, padded.AsSpan(start, g.Wo));
                            else { v = 0; for (int ow = 0; ow < g.Wo; ow++) v += grow[ow] * padded[start + ow * g.Sw]; }
                            sums[ki * g.Kw + kj] += v;
                        }
                    }
                }
                BufferPool.Return(padded);
            }
            for (int t = 0; t < kk; t++)
                dw[dwOff + o * kk + t] = (float)((accumulate ? dw[dwOff + o * kk + t] : 0) + sums[t]);
        });
    }
}
