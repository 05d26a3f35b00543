using System.Buffers;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Convolution as implicit GEMM over NCHW tensors. Per image and group: forward Y = W·cols, weight gradient
/// dW += dY·colsᵀ, input gradient dX either as a stride-1 convolution of dY with the flipped, transposed kernel
/// or, for strided convolutions, dcols = Wᵀ·dY folded back (col2im). 1×1 stride-1 convolutions read the image as the
/// B matrix directly. Images run in parallel across cores; a single image parallelises inside the GEMM.
/// </summary>
internal static unsafe class ConvKernels
{
    /// <summary>Parameters of one convolution call.</summary>
    public readonly record struct Shape(int N, int C, int H, int W, int O, int Groups, ConvGeometry G)
    {
        public int Cg => C / Groups;
        public int Og => O / Groups;
        public int InImage => C * H * W;
        public int OutImage => O * G.Ho * G.Wo;
        public int Spatial => G.Ho * G.Wo;
        public int TapCount => G.Rows; // Cg·Kh·Kw
        public bool Pointwise => G.Kh == 1 && G.Kw == 1 && G.Sh == 1 && G.Sw == 1 && G.Ph == 0 && G.Pw == 0;
    }

    private static void ForImages(int n, Action<int, int> body)
    {
        int t = Math.Min(n, Gemm.MaxThreads);
        if (t <= 1) { for (int i = 0; i < n; i++) body(i, Gemm.MaxThreads); return; }
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = t }, i => body(i, 1));
    }

    /// <summary>y = conv(x, w) (+ bias), y fully overwritten.</summary>
    public static void Forward(Shape s, float[] x, int xOff, float[] w, int wOff, float[]? bias, int bOff, float[] y, int yOff)
    {
        var g = s.G;
        bool padded = g.Sh == 1 && g.Sw == 1;
        var pg = new PaddedConv.Geometry(s.Cg, s.H, s.W, g.Kh, g.Kw, g.Ph, g.Pw, g.Dh, g.Dw);
        var offsets = padded ? PaddedConv.Offsets(pg) : null;
        ForImages(s.N, (i, threads) =>
        {
            fixed (float* px = x) fixed (float* pw = w) fixed (float* py = y)
            {
                for (int gi = 0; gi < s.Groups; gi++)
                {
                    float* img = px + xOff + (long)i * s.InImage + (long)gi * s.Cg * s.H * s.W;
                    float* outp = py + yOff + (long)i * s.OutImage + (long)gi * s.Og * s.Spatial;
                    var a = new MatView(pw + wOff + (long)gi * s.Og * s.TapCount, s.TapCount, 1);
                    if (padded) PaddedConv.Forward(a, s.Og, img, pg, offsets!, outp, false, threads);
                    else if (s.Pointwise) Gemm.Run(a, new MatBSource(new MatView(img, s.Spatial, 1)), s.Og, s.Spatial, s.Cg, outp, s.Spatial, false, threads);
                    else Gemm.Run(a, new Im2ColSource(img, g, false), s.Og, s.Spatial, s.TapCount, outp, s.Spatial, false, threads);
                }
                if (bias is not null)
                    for (int o = 0; o < s.O; o++)
                        System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(py + yOff + (long)i * s.OutImage + (long)o * s.Spatial, s.Spatial), bias[bOff + o],
                            new Span<float>(py + yOff + (long)i * s.OutImage + (long)o * s.Spatial, s.Spatial));
            }
        });
    }

    /// <summary>
    /// dw (=|+=) Σ_images dY·colsᵀ. Stride 1: images split across cores, each core summing into its own buffer.
    /// Strided: images in order, the columns of dw split across cores.
    /// </summary>
    public static void BackwardWeight(Shape s, float[] dy, int dyOff, float[] x, int xOff, float[] dw, int dwOff, bool accumulate)
    {
        var g = s.G;
        int wsize = s.O * s.TapCount;
        if (g.Sh == 1 && g.Sw == 1)
        {
            var pg = new PaddedConv.Geometry(s.Cg, s.H, s.W, g.Kh, g.Kw, g.Ph, g.Pw, g.Dh, g.Dw);
            var offsets = PaddedConv.Offsets(pg);
            int t = Math.Max(1, Math.Min(s.N, Gemm.MaxThreads));
            var partial = new float[t][];
            Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, ti =>
            {
                var acc = partial[ti] = ArrayPool<float>.Shared.Rent(wsize);
                new Span<float>(acc, 0, wsize).Clear();
                fixed (float* pdy = dy) fixed (float* px = x) fixed (float* pa = acc)
                    for (int i = ti; i < s.N; i += t)
                        for (int gi = 0; gi < s.Groups; gi++)
                            PaddedConv.WeightGrad(pdy + dyOff + (long)i * s.OutImage + (long)gi * s.Og * s.Spatial, s.Og,
                                px + xOff + (long)i * s.InImage + (long)gi * s.Cg * s.H * s.W, pg, offsets, pa + (long)gi * s.Og * s.TapCount);
            });
            var dst = dw.AsSpan(dwOff, wsize);
            if (!accumulate) dst.Clear();
            foreach (var p in partial) { System.Numerics.Tensors.TensorPrimitives.Add(dst, p.AsSpan(0, wsize), dst); ArrayPool<float>.Shared.Return(p); }
            return;
        }
        fixed (float* pdy = dy) fixed (float* px = x) fixed (float* pdw = dw)
        {
            for (int i = 0; i < s.N; i++)
                for (int gi = 0; gi < s.Groups; gi++)
                {
                    float* img = px + xOff + (long)i * s.InImage + (long)gi * s.Cg * s.H * s.W;
                    var a = new MatView(pdy + dyOff + (long)i * s.OutImage + (long)gi * s.Og * s.Spatial, s.Spatial, 1);
                    float* outp = pdw + dwOff + (long)gi * s.Og * s.TapCount;
                    bool acc = accumulate || i > 0;
                    if (s.Pointwise) Gemm.Run(a, new MatBSource(new MatView(img, 1, s.Spatial)), s.Og, s.Cg, s.Spatial, outp, s.TapCount, acc, Gemm.MaxThreads);
                    else Gemm.Run(a, new Im2ColSource(img, g, true), s.Og, s.TapCount, s.Spatial, outp, s.TapCount, acc, Gemm.MaxThreads);
                }
            if (s.N == 0 && !accumulate) new Span<float>(pdw + dwOff, wsize).Clear();
        }
    }

    /// <summary>dx (=|+=) the input gradient.</summary>
    public static void BackwardInput(Shape s, float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff, bool accumulate)
    {
        var g = s.G;
        int ph = g.Dh * (g.Kh - 1) - g.Ph, pw = g.Dw * (g.Kw - 1) - g.Pw;
        if (g.Sh == 1 && g.Sw == 1 && ph >= 0 && pw >= 0)
        {
            // dX = conv(dY, W̃) with W̃[c, o, i, j] = W[o, c, Kh−1−i, Kw−1−j], padding D·(K−1) − P.
            int taps = s.Og * g.Kh * g.Kw;
            var wt = ArrayPool<float>.Shared.Rent(s.Groups * s.Cg * taps);
            for (int gi = 0; gi < s.Groups; gi++)
                for (int o = 0; o < s.Og; o++)
                    for (int c = 0; c < s.Cg; c++)
                        for (int i = 0; i < g.Kh; i++)
                            for (int j = 0; j < g.Kw; j++)
                                wt[gi * s.Cg * taps + c * taps + (o * g.Kh + (g.Kh - 1 - i)) * g.Kw + (g.Kw - 1 - j)] =
                                    w[wOff + ((gi * s.Og + o) * s.Cg + c) * g.Kh * g.Kw + i * g.Kw + j];
            var gt = new PaddedConv.Geometry(s.Og, g.Ho, g.Wo, g.Kh, g.Kw, ph, pw, g.Dh, g.Dw);
            var offsets = PaddedConv.Offsets(gt);
            ForImages(s.N, (img, threads) =>
            {
                fixed (float* pdy = dy) fixed (float* pwt = wt) fixed (float* pdx = dx)
                    for (int gi = 0; gi < s.Groups; gi++)
                    {
                        float* src = pdy + dyOff + (long)img * s.OutImage + (long)gi * s.Og * s.Spatial;
                        float* dst = pdx + dxOff + (long)img * s.InImage + (long)gi * s.Cg * s.H * s.W;
                        PaddedConv.Forward(new MatView(pwt + (long)gi * s.Cg * taps, taps, 1), s.Cg, src, gt, offsets, dst, accumulate, threads);
                    }
            });
            ArrayPool<float>.Shared.Return(wt);
            return;
        }
        ForImages(s.N, (img, threads) =>
        {
            float[]? cols = s.Pointwise ? null : ArrayPool<float>.Shared.Rent(s.TapCount * s.Spatial);
            fixed (float* pdy = dy) fixed (float* pw_ = w) fixed (float* pdx = dx) fixed (float* pc = cols)
                for (int gi = 0; gi < s.Groups; gi++)
                {
                    float* src = pdy + dyOff + (long)img * s.OutImage + (long)gi * s.Og * s.Spatial;
                    float* dst = pdx + dxOff + (long)img * s.InImage + (long)gi * s.Cg * s.H * s.W;
                    var wT = new MatView(pw_ + wOff + (long)gi * s.Og * s.TapCount, 1, s.TapCount);
                    var dyv = new MatBSource(new MatView(src, s.Spatial, 1));
                    if (s.Pointwise) { Gemm.Run(wT, dyv, s.Cg, s.Spatial, s.Og, dst, s.Spatial, accumulate, threads); continue; }
                    Gemm.Run(wT, dyv, s.TapCount, s.Spatial, s.Og, pc, s.Spatial, false, threads);
                    var span = new Span<float>(dst, s.Cg * s.H * s.W);
                    if (!accumulate) span.Clear();
                    Im2Col.FoldAdd(new ReadOnlySpan<float>(pc, s.TapCount * s.Spatial), g, span);
                }
            if (cols is not null) ArrayPool<float>.Shared.Return(cols);
        });
    }
}
