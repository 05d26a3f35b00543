
namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Convolution over NCHW tensors without im2col buffers (see <see cref="PaddedConv"/>): forward Y = W·cols and the
/// weight gradient dW = dY·colsᵀ read the patch matrix in place from a phase buffer, for any stride and dilation.
/// The input gradient of a stride-1 convolution is the forward convolution of dY with the flipped, transposed
/// kernel (a pointwise one's a GEMM with W transposed); for stride 2 four stride-1 convolutions of dY, one per phase of dX (<see cref="SubPixelInputGrad"/>); for other
/// strides dcols = Wᵀ·dY folded back (col2im). The batch is processed in chunks of
/// images sized to stay in L2, chunks in parallel across cores.
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

    /// <summary>Whether depthwise convolutions take <see cref="DepthwiseConv"/> (on by default; off only to compare in benchmarks).</summary>
    internal static bool UseDepthwise { get; set; } = true;

    /// <summary>Whether stride-2 input gradients take <see cref="SubPixelInputGrad"/> (on by default; off only to compare).</summary>
    internal static bool UseSubPixel { get; set; } = true;

    /// <summary>The phase-buffer geometry of this convolution for a chunk of <paramref name="n"/> images.</summary>
    private static PaddedConv.Geometry Padded(Shape s, int n) =>
        new(n, s.Cg, s.H, s.W, s.G.Kh, s.G.Kw, s.G.Sh, s.G.Sw, s.G.Ph, s.G.Pw, s.G.Dh, s.G.Dw);

    /// <summary>Phase-buffer bytes per chunk that keep it in a core's L2 cache.</summary>
    internal static int ChunkBytes { get; set; } = 768 * 1024;

    /// <summary>
    /// Splits the batch into chunks of consecutive images: as few as keep each chunk's phase buffer within
    /// <see cref="ChunkBytes"/>, at least one per core when there are enough images, and of near-equal size.
    /// </summary>
    internal static List<(int Start, int Count)> Chunks(int n, long bytesPerImage)
    {
        int threads = Gemm.MaxThreads;
        int maxPer = (int)Math.Clamp(ChunkBytes / Math.Max(bytesPerImage, 1), 1, Math.Max(n, 1));
        int chunks = Math.Max((n + maxPer - 1) / maxPer, Math.Min(threads, n));
        if (chunks > threads && chunks % threads != 0 && (chunks / threads + 1) * threads <= n) chunks = (chunks / threads + 1) * threads;
        var r = new List<(int, int)>();
        for (int c = 0, start = 0; c < chunks; c++)
        {
            int count = (n - start) / (chunks - c);
            if (count == 0) continue;
            r.Add((start, count)); start += count;
        }
        return r;
    }

    /// <summary>Runs <paramref name="body"/>(start, count, threadsForGemm) for each chunk, chunks in parallel when there are several.</summary>
    internal static void ForChunks(List<(int Start, int Count)> chunks, Action<int, int, int> body)
    {
        if (chunks.Count == 1) { body(chunks[0].Start, chunks[0].Count, Gemm.MaxThreads); return; }
        Parallel.ForEach(chunks, new ParallelOptions { MaxDegreeOfParallelism = Gemm.MaxThreads }, c => body(c.Start, c.Count, 1));
    }

    private static long ImageBytes(in PaddedConv.Geometry one) => 4L * (one.BufferSize - PaddedConv.Slack);

    /// <summary>y = conv(x, w) (+ bias), y fully overwritten: one GEMM per group and chunk of images.</summary>
    public static void Forward(Shape s, float[] x, int xOff, float[] w, int wOff, float[]? bias, int bOff, float[] y, int yOff)
    {
        if (s.N == 0) return;
        if (UseDepthwise && DepthwiseConv.Applies(s))
        {
            DepthwiseConv.Forward(s, x, xOff, w, wOff, y, yOff);
            if (bias is not null)
                for (int i = 0; i < s.N; i++)
                    for (int o = 0; o < s.O; o++)
                    {
                        var plane = y.AsSpan(yOff + i * s.OutImage + o * s.Spatial, s.Spatial);
                        System.Numerics.Tensors.TensorPrimitives.Add(plane, bias[bOff + o], plane);
                    }
            return;
        }
        var chunks = Chunks(s.N, ImageBytes(Padded(s, 1)));
        ForChunks(chunks, (start, count, threads) =>
        {
            var pg = Padded(s, count);
            fixed (float* px = x) fixed (float* pw = w) fixed (float* py = y)
            {
                for (int gi = 0; gi < s.Groups; gi++)
                    PaddedConv.Forward(pw + wOff + (long)gi * s.Og * s.TapCount, s.Og,
                        px + xOff + (long)start * s.InImage + (long)gi * s.Cg * s.H * s.W, s.InImage, pg,
                        py + yOff + (long)start * s.OutImage + (long)gi * s.Og * s.Spatial, s.OutImage, false, threads);
                if (bias is not null)
                    for (int i = start; i < start + count; i++)
                        for (int o = 0; o < s.O; o++)
                        {
                            var plane = new Span<float>(py + yOff + (long)i * s.OutImage + (long)o * s.Spatial, s.Spatial);
                            System.Numerics.Tensors.TensorPrimitives.Add(plane, bias[bOff + o], plane);
                        }
            }
        });
    }

    /// <summary>
    /// dw (=|+=) Σ_images dY·colsᵀ: one dot-product pass per group and chunk; chunks run in parallel, each core
    /// summing into its own buffer, or, for a single chunk, the taps are split across cores.
    /// </summary>
    public static void BackwardWeight(Shape s, float[] dy, int dyOff, float[] x, int xOff, float[] dw, int dwOff, bool accumulate)
    {
        int wsize = s.O * s.TapCount;
        if (UseDepthwise && DepthwiseConv.Applies(s)) { DepthwiseConv.BackwardWeight(s, dy, dyOff, x, xOff, dw, dwOff, accumulate); return; }
        if (!accumulate) dw.AsSpan(dwOff, wsize).Clear();
        if (s.N == 0) return;
        var chunks = Chunks(s.N, ImageBytes(Padded(s, 1)));
        void Run(int start, int count, float* target, int threads)
        {
            var pg = Padded(s, count);
            var offsets = PaddedConv.Offsets(pg);
            fixed (float* pdy = dy) fixed (float* px = x)
                for (int gi = 0; gi < s.Groups; gi++)
                    PaddedConv.WeightGrad(pdy + dyOff + (long)start * s.OutImage + (long)gi * s.Og * s.Spatial, s.OutImage, s.Og,
                        px + xOff + (long)start * s.InImage + (long)gi * s.Cg * s.H * s.W, s.InImage, pg, offsets, target + (long)gi * s.Og * s.TapCount, threads);
        }
        if (chunks.Count == 1)
        {
            fixed (float* pdw = dw) Run(0, s.N, pdw + dwOff, Gemm.MaxThreads);
            return;
        }
        int workers = Math.Min(Gemm.MaxThreads, chunks.Count);
        var partial = new float[workers][];
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, wi =>
        {
            var acc = partial[wi] = BufferPool.Rent(wsize);
            acc.AsSpan(0, wsize).Clear();
            fixed (float* pa = acc)
                for (int c = wi; c < chunks.Count; c += workers) Run(chunks[c].Start, chunks[c].Count, pa, 1);
        });
        var dst = dw.AsSpan(dwOff, wsize);
        foreach (var p in partial) { System.Numerics.Tensors.TensorPrimitives.Add(dst, p.AsSpan(0, wsize), dst); BufferPool.Return(p); }
    }

    /// <summary>
    /// dx (=|+=) the input gradient. A pointwise layer (1×1, stride 1, no padding) takes dX = Wᵀ·dY per image, one GEMM
    /// reading W transposed in place: through the flipped kernel it paid a transposing copy of W and a phase buffer of dY
    /// (DeepLab's 1024→1024 ASPP layers at 2×17×21: 12 → 8 ms).
    /// </summary>
    public static void BackwardInput(Shape s, float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff, bool accumulate)
    {
        if (UseDepthwise && DepthwiseConv.Applies(s)) { DepthwiseConv.BackwardInput(s, dy, dyOff, w, wOff, dx, dxOff, accumulate); return; }
        var g = s.G;
        int ph = g.Dh * (g.Kh - 1) - g.Ph, pw = g.Dw * (g.Kw - 1) - g.Pw;
        if (g.Sh == 1 && g.Sw == 1 && ph >= 0 && pw >= 0 && !s.Pointwise)
        {
            // dX = conv(dY, W̃) with W̃[c, o, i, j] = W[o, c, Kh−1−i, Kw−1−j], padding D·(K−1) − P.
            int taps = s.Og * g.Kh * g.Kw;
            var wt = BufferPool.Rent(s.Groups * s.Cg * taps);
            fixed (float* pw0 = w) fixed (float* pwt = wt)
            {
                var flip = new FlipBody { W = pw0 + wOff, Wt = pwt, Cg = s.Cg, Og = s.Og, Kk = g.Kh * g.Kw };
                WorkerPool.For(s.Groups * s.Cg, ref flip);
            }
            var one = new PaddedConv.Geometry(1, s.Og, g.Ho, g.Wo, g.Kh, g.Kw, 1, 1, ph, pw, g.Dh, g.Dw);
            if (s.N > 0)
                ForChunks(Chunks(s.N, ImageBytes(one)), (start, count, threads) =>
                {
                    var gt = one with { N = count };
                    fixed (float* pdy = dy) fixed (float* pwt = wt) fixed (float* pdx = dx)
                        for (int gi = 0; gi < s.Groups; gi++)
                            PaddedConv.Forward(pwt + (long)gi * s.Cg * taps, s.Cg,
                                pdy + dyOff + (long)start * s.OutImage + (long)gi * s.Og * s.Spatial, s.OutImage, gt,
                                pdx + dxOff + (long)start * s.InImage + (long)gi * s.Cg * s.H * s.W, s.InImage, accumulate, threads);
                });
            BufferPool.Return(wt);
            return;
        }
        if (UseSubPixel && SubPixelInputGrad.Applies(s)) { SubPixelInputGrad.Backward(s, dy, dyOff, w, wOff, dx, dxOff, accumulate); return; }
        ForImages(s.N, (img, threads) =>
        {
            float[]? cols = s.Pointwise ? null : BufferPool.Rent(s.TapCount * s.Spatial);
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
            if (cols is not null) BufferPool.Return(cols);
        });
    }

    /// <summary>
    /// Row c of group gi of the flipped, transposed kernel W̃[c, o, i, j] = W[o, c, Kh−1−i, Kw−1−j]: for each o, the K×K
    /// block of W[o, c] reversed; one row per iteration, written in order.
    /// </summary>
    private struct FlipBody : IParallelBody
    {
        public float* W, Wt; public int Cg, Og, Kk;
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Run(int row)
        {
            int gi = row / Cg, c = row % Cg;
            float* dst = Wt + (long)row * Og * Kk;
            float* src = W + ((long)gi * Og * Cg + c) * Kk + Kk - 1;
            long step = (long)Cg * Kk;
            if (Kk == 1) for (int o = 0; o < Og; o++) dst[o] = src[o * step];
            else
                for (int o = 0; o < Og; o++, src += step)
                    for (int t = 0; t < Kk; t++) *dst++ = src[-t];
        }
    }
}
