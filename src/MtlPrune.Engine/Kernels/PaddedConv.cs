using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Convolution without im2col or packing of the image. The batch is copied once into a "phase buffer": for stride s
/// the zero-padded image is split into s×s phase images P_ab[c, i, j] = xpad[c, s·i + a, s·j + b], and the images of
/// the batch are stacked vertically inside each (phase, channel) plane. Then the im2col row of tap (c, i, j) is a
/// contiguous slice of that buffer starting at a fixed offset, for output positions flattened over the phase width
/// Wq and the stacked rows; the columns and rows that fall between images are computed and dropped. One GEMM
/// (forward) or one dot-product kernel (weight gradient) then covers the whole batch.
/// </summary>
internal static unsafe class PaddedConv
{
    /// <summary>Slack after the buffer so micro-kernels may read a whole 32-float row past the end (kept zero).</summary>
    public const int Slack = 64;

    public readonly record struct Geometry(int N, int C, int H, int W, int Kh, int Kw, int Sh, int Sw, int Ph, int Pw, int Dh, int Dw)
    {
        public int Ho => (H + 2 * Ph - Dh * (Kh - 1) - 1) / Sh + 1;
        public int Wo => (W + 2 * Pw - Dw * (Kw - 1) - 1) / Sw + 1;
        /// <summary>Rows and columns of one image in a phase plane.</summary>
        public int Hq => Ho + Dh * (Kh - 1) / Sh;
        public int Wq => Wo + Dw * (Kw - 1) / Sw;
        public int Plane => N * Hq * Wq;
        /// <summary>Flattened output columns that cover the batch: up to the last valid position of the last image.</summary>
        public int Columns => ((N - 1) * Hq + Ho - 1) * Wq + Wo;
        public int Taps => C * Kh * Kw;
        /// <summary>Phase (a, b) is stored only if some tap reads it: a ∈ {i·Dh mod Sh}, b ∈ {j·Dw mod Sw}.</summary>
        public bool UsesPhase(int a, int b)
        {
            bool rows = false, cols = false;
            for (int i = 0; i < Kh; i++) rows |= i * Dh % Sh == a;
            for (int j = 0; j < Kw; j++) cols |= j * Dw % Sw == b;
            return rows && cols;
        }
        /// <summary>Position of phase (a, b) among the stored phases.</summary>
        public int PhaseIndex(int a, int b)
        {
            int k = 0;
            for (int x = 0; x < Sh; x++)
                for (int y = 0; y < Sw; y++)
                {
                    if (x == a && y == b) return k;
                    if (UsesPhase(x, y)) k++;
                }
            throw new ArgumentOutOfRangeException(nameof(a));
        }
        public int Phases
        {
            get
            {
                int k = 0;
                for (int p = 0; p < Sh * Sw; p++) if (UsesPhase(p / Sw, p % Sw)) k++;
                return k;
            }
        }
        public int BufferSize => Phases * C * Plane + Slack;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Geometry, int[]> OffsetCache = new();

    /// <summary>Offsets of every tap (c, i, j) into the phase buffer; cached per geometry (callers must not modify them).</summary>
    public static int[] Offsets(in Geometry g)
    {
        if (OffsetCache.TryGetValue(g, out var cached)) return cached;
        if (OffsetCache.Count > 4096) OffsetCache.Clear();
        return OffsetCache[g] = ComputeOffsets(g);
    }

    private static int[] ComputeOffsets(in Geometry g)
    {
        var off = new int[g.Taps];
        for (int c = 0, t = 0; c < g.C; c++)
            for (int i = 0; i < g.Kh; i++)
                for (int j = 0; j < g.Kw; j++)
                {
                    int di = i * g.Dh, dj = j * g.Dw;
                    int phase = g.PhaseIndex(di % g.Sh, dj % g.Sw);
                    off[t++] = (phase * g.C + c) * g.Plane + di / g.Sh * g.Wq + dj / g.Sw;
                }
        return off;
    }

    /// <summary>
    /// Writes images [N, C, H, W] (<paramref name="imageStride"/> floats apart, channels H·W apart) into the phase buffer,
    /// zeros everywhere else, including the slack; blocks of channels across <paramref name="threads"/> cores when the
    /// buffer is large enough to pay (an image of batch 1 was copied by one core while the other waited: resnet-mini's
    /// eager inference at 128×128 8.4 → 8.0 ms).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Prepare(float* src, int imageStride, in Geometry g, float* dst, int threads = 1)
    {
        new Span<float>(dst + (long)g.Phases * g.C * g.Plane, Slack).Clear();
        if (threads <= 1 || g.C < 2 || (long)g.C * g.Plane < 1 << 14) { PrepareChannels(src, imageStride, (long)g.H * g.W, g.W, g, dst, 0, g.C); return; }
        PrepareAcrossCores(src, imageStride, (long)g.H * g.W, g.W, g, dst, (g.C + 2 * threads - 1) / (2 * threads));
    }

    /// <summary>
    /// <see cref="PrepareChannels"/> for every channel, in blocks of <paramref name="perBlock"/> channels across cores (the
    /// slack after the buffer is not touched).
    /// </summary>
    public static void PrepareAcrossCores(float* src, long imageStride, long channelStride, int rowStride, in Geometry g, float* dst, int perBlock)
    {
        var body = new PrepareBody { Src = src, ImageStride = imageStride, ChannelStride = channelStride, RowStride = rowStride, G = g, Dst = dst, Per = perBlock };
        WorkerPool.For((g.C + perBlock - 1) / perBlock, ref body);
    }

    /// <summary>One block of channels of <see cref="PrepareAcrossCores"/>.</summary>
    private struct PrepareBody : IParallelBody
    {
        public float* Src, Dst; public long ImageStride, ChannelStride; public int RowStride, Per; public Geometry G;
        public void Run(int i) => PrepareChannels(Src, ImageStride, ChannelStride, RowStride, G, Dst, i * Per, Math.Min(G.C, (i + 1) * Per));
    }

    /// <summary>
    /// <see cref="Prepare"/> for the channels [c0, c1) only (their planes in every phase, cleared then filled), so that
    /// several threads can fill one buffer; the slack after the buffer is not touched. <paramref name="src"/> points at
    /// image 0, channel 0, row 0, column 0; images, channels and rows are the given strides apart (so a padded layout's
    /// interior can be read as well as plain NCHW).
    /// </summary>
    public static void PrepareChannels(float* src, long imageStride, long channelStride, int rowStride, in Geometry g, float* dst, int c0, int c1)
    {
        int hq = g.Hq, wq = g.Wq;
        // Stride 2 across with both column phases stored (some tap reads an odd column) and a padding less than a phase row.
        bool paired = g.Sw == 2 && g.UsesPhase(0, 1) && (g.Pw + 1) / 2 <= wq;
        for (int a = 0; a < g.Sh; a++)
            for (int b = 0; b < g.Sw; b++)
            {
                if (!g.UsesPhase(a, b)) continue;
                if (paired)
                {
                    if (b == 0) PreparePair(src, imageStride, channelStride, rowStride, g, dst, c0, c1, a);
                    continue;
                }
                int phase = g.PhaseIndex(a, b);
                var (j0, j1) = InsideColumns(g, b);
                // Each row is written once: zeros left of the image, its pixels, zeros right of it (or zeros outside it),
                // instead of clearing the plane and then copying into it.
                for (int c = c0; c < c1; c++)
                    for (int n = 0; n < g.N; n++)
                    {
                        float* plane = dst + (long)(phase * g.C + c) * g.Plane + (long)n * hq * wq;
                        float* img = src + n * imageStride + c * channelStride;
                        for (int i = 0; i < hq; i++)
                        {
                            int row = g.Sh * i + a - g.Ph;
                            float* d = plane + (long)i * wq;
                            if ((uint)row >= (uint)g.H || j1 == j0) { new Span<float>(d, wq).Clear(); continue; }
                            // The borders are a column or two on either side: zeros stored one by one (a Span clear's call
                            // cost more than the row's copy on 32-wide phase rows).
                            for (int j = 0; j < j0; j++) d[j] = 0f;
                            float* s = img + (long)row * rowStride + (g.Sw * j0 + b - g.Pw);
                            if (g.Sw == 1) new ReadOnlySpan<float>(s, j1 - j0).CopyTo(new Span<float>(d + j0, j1 - j0));
                            else if (g.Sw == 2) Deinterleave(s, d + j0, j1 - j0, null, 0);
                            else for (int j = 0; j < j1 - j0; j++) d[j0 + j] = s[j * g.Sw];
                            for (int j = j1; j < wq; j++) d[j] = 0f;
                        }
                    }
            }
    }

    /// <summary>Columns [J0, J1) of column phase b's rows whose source column Sw·j + b − Pw lies inside the image.</summary>
    private static (int J0, int J1) InsideColumns(in Geometry g, int b)
    {
        int wq = g.Wq, last = g.W - 1 + g.Pw - b;
        int j0 = Math.Min(wq, (g.Pw - b + g.Sw - 1) / g.Sw), j1 = last < 0 ? 0 : Math.Min(wq, last / g.Sw + 1);
        return (j0, Math.Max(j0, j1));
    }

    /// <summary>
    /// <see cref="PrepareChannels"/> for stride 2 across, phases (a, 0) and (a, 1) together: each source row is read once and
    /// split into its even and odd columns, one phase row each (<see cref="Deinterleave"/>), instead of being read once per
    /// phase. DeepLab's and resnet-mini's strided layers use both column phases.
    /// </summary>
    private static void PreparePair(float* src, long imageStride, long channelStride, int rowStride, in Geometry g, float* dst, int c0, int c1, int a)
    {
        int hq = g.Hq, wq = g.Wq;
        var (j00, j10) = InsideColumns(g, 0);
        var (j01, j11) = InsideColumns(g, 1);
        // The phase whose first inside column is source column 0 takes the even columns.
        bool evenIn0 = 2 * j00 - g.Pw == 0;
        int p0 = g.PhaseIndex(a, 0), p1 = g.PhaseIndex(a, 1);
        for (int c = c0; c < c1; c++)
            for (int n = 0; n < g.N; n++)
            {
                float* plane0 = dst + (long)(p0 * g.C + c) * g.Plane + (long)n * hq * wq, plane1 = dst + (long)(p1 * g.C + c) * g.Plane + (long)n * hq * wq;
                float* img = src + n * imageStride + c * channelStride;
                for (int i = 0; i < hq; i++)
                {
                    int row = g.Sh * i + a - g.Ph;
                    float* d0 = plane0 + (long)i * wq, d1 = plane1 + (long)i * wq;
                    if ((uint)row >= (uint)g.H) { new Span<float>(d0, wq).Clear(); new Span<float>(d1, wq).Clear(); continue; }
                    for (int j = 0; j < j00; j++) d0[j] = 0f;
                    for (int j = 0; j < j01; j++) d1[j] = 0f;
                    float* s = img + (long)row * rowStride;
                    if (evenIn0) Deinterleave(s, d0 + j00, j10 - j00, d1 + j01, j11 - j01);
                    else Deinterleave(s, d1 + j01, j11 - j01, d0 + j00, j10 - j00);
                    for (int j = j10; j < wq; j++) d0[j] = 0f;
                    for (int j = j11; j < wq; j++) d1[j] = 0f;
                }
            }
    }

    /// <summary>
    /// even[k] = s[2k] for k &lt; <paramref name="evens"/> and odd[k] = s[2k + 1] for k &lt; <paramref name="odds"/>,
    /// reading no source float that neither needs: two loads, two permutes and two stores per 32 source floats, the tail
    /// under masks. With no odds (<paramref name="odd"/> may then be null) it is a stride-2 phase row alone, read up to
    /// s[2·evens − 2]: each second load leaves out its last (odd) float, which is never kept.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void Deinterleave(float* s, float* even, int evens, float* odd, int odds)
    {
        int k = 0;
        if (Simd.Use512 && Avx512F.IsSupported)
        {
            var ie = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            var io = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            var lanes = Vector512<int>.Indices;
            var zero = Vector512<float>.Zero;
            // Whole vectors: with no odds, the second load leaves out its last (odd) float.
            var hiMask = Vector512.LessThan(lanes, Vector512.Create(odds > 0 ? 16 : 15)).AsSingle();
            for (; k + 16 <= evens && (odds == 0 || k + 16 <= odds); k += 16)
            {
                var lo = Vector512.Load(s + 2 * k); var hi = Avx512F.MaskLoad(s + 2 * k + 16, hiMask, zero);
                Vector512.Store(Avx512F.PermuteVar16x32x2(lo, ie, hi), even + k);
                if (odds > 0) Vector512.Store(Avx512F.PermuteVar16x32x2(lo, io, hi), odd + k);
            }
            while (k < evens || k < odds)
            {
                // Floats needed from s + 2k: up to the last even (2·evens − 2) and the last odd (2·odds − 1).
                int used = Math.Max(2 * (evens - k) - 1, 2 * (odds - k));
                var mlo = Vector512.LessThan(lanes, Vector512.Create(used)).AsSingle();
                var mhi = Vector512.LessThan(lanes, Vector512.Create(used - 16)).AsSingle();
                var lo = Avx512F.MaskLoad(s + 2 * k, mlo, zero); var hi = Avx512F.MaskLoad(s + 2 * k + 16, mhi, zero);
                if (k < evens) Avx512F.MaskStore(even + k, Vector512.LessThan(lanes, Vector512.Create(evens - k)).AsSingle(), Avx512F.PermuteVar16x32x2(lo, ie, hi));
                if (k < odds) Avx512F.MaskStore(odd + k, Vector512.LessThan(lanes, Vector512.Create(odds - k)).AsSingle(), Avx512F.PermuteVar16x32x2(lo, io, hi));
                k += 16;
            }
            return;
        }
        for (int j = 0; j < evens; j++) even[j] = s[2 * j];
        for (int j = 0; j < odds; j++) odd[j] = s[2 * j + 1];
    }

    /// <summary>
    /// out[n, M, Ho, Wo] (=|+=) W[M, taps]·im2col(images), for the whole batch (<see cref="ConvSums"/>: in bands of live
    /// kernel rows where a large dilation leaves some out, in the layout <see cref="ConvSums.Choose"/> finds cheapest, mostly
    /// written straight into the output); output images are <paramref name="outImageStride"/> floats apart.
    /// <paramref name="threads"/> cores share the work (1 from a caller that already runs on one core of several).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Forward(float* w, int m, float* images, int imageStride, in Geometry g,
        float* outp, int outImageStride, bool accumulate, int threads)
    {
        var layout = ConvSums.Choose(g, m);
        var buf = BufferPool.Rent(g.BufferSize);
        var copies = layout == ConvSums.Layout.Copies ? BufferPool.Rent(ConvSums.CopiesSize(g)) : null;
        var tmp = layout == ConvSums.Layout.Stacked ? BufferPool.Rent(m * g.Plane) : null;
        var rowsFirst = ConvSums.NeedsRowsFirst(g) ? BufferPool.Rent(m * g.Taps) : null;
        fixed (float* pb = buf) fixed (float* pc = copies) fixed (float* pt = tmp) fixed (float* prf = rowsFirst)
        {
            Prepare(images, imageStride, g, pb, threads);
            if (rowsFirst is not null) ConvSums.RowsFirst(w, m, g.C, g.Kh, g.Kw, prf, parallel: threads > 1);
            if (layout == ConvSums.Layout.Stacked)
            {
                var src = ConvSums.Phase(pb, g);
                ConvSums.Run(w, prf, m, g, src, pt, threads);
                var store = new StoreBody { Sums = pt, Ld = src.Ld, Width = src.Width, G = g, Out = outp, OutImageStride = outImageStride, Accumulate = accumulate };
                if (threads > 1) WorkerPool.For(m, ref store);
                else for (int r = 0; r < m; r++) store.Run(r);
            }
            else
            {
                var src = layout == ConvSums.Layout.Copies ? ConvSums.Shifted(pb, g, Simd.Align64(pc), parallel: threads > 1) : ConvSums.Phase(pb, g);
                ConvSums.RunDirect(w, prf, m, g, src, outp, outImageStride, accumulate, threads);
            }
        }
        BufferPool.Return(buf);
        if (tmp is not null) BufferPool.Return(tmp);
        if (copies is not null) BufferPool.Return(copies);
        if (rowsFirst is not null) BufferPool.Return(rowsFirst);
    }

    /// <summary>Output channel r's valid sums, rows <c>Width</c> apart and Hq rows per image, stored (or added) into the output images.</summary>
    private struct StoreBody : IParallelBody
    {
        public float* Sums, Out; public int Ld, Width, OutImageStride; public Geometry G; public bool Accumulate;
        public void Run(int r)
        {
            int ho = G.Ho, wo = G.Wo;
            for (int n = 0; n < G.N; n++)
                for (int oh = 0; oh < ho; oh++)
                {
                    var s = new ReadOnlySpan<float>(Sums + (long)r * Ld + ((long)n * G.Hq + oh) * Width, wo);
                    var d = new Span<float>(Out + (long)n * OutImageStride + ((long)r * ho + oh) * wo, wo);
                    if (Accumulate) System.Numerics.Tensors.TensorPrimitives.Add(d, s, d);
                    else s.CopyTo(d);
                }
        }
    }

    /// <summary>
    /// Output channels from which the weight gradient runs as a packed GEMM over the valid output positions
    /// (<see cref="TapColumnsSource"/>) instead of <see cref="DotKernel"/>'s dot products along the phase layout. Measured on
    /// the AMD EPYC, alternating both on one shape (GEMM over the phase layout, before positions were compacted): 256/512
    /// channels at 2×16×20 (DeepLab's training crop) 1.4-2.3× faster, 96-128 channels 1.0-1.2×, 64 channels 0.93-1.01×,
    /// 32 channels 0.83×: dot products along a short reduction spend much on horizontal sums, and the GEMM's transposed B
    /// panels pay off only over many rows. Compacting the positions then took DeepLab's 512→1024 rate-6 branch from 67 to
    /// 22 ms (its phase plane is 2.8 times its output). Measured again on the Intel Xeon with compacted positions (medians
    /// of 41 calls): at 64 channels the GEMM is 15-67% faster on every map from 8×8 to 64×64 (the reference 8×64×56×56
    /// conv 10.3-10.8 → 8.7-8.8 ms; resnet-mini's 128→64 head at 8×8 1.07 → 0.64 ms), at 48 channels 10%, at 32 channels
    /// about alike for 3×3 and 30% slower for a strided 1×1, at 16 channels 60% slower: the threshold went from 96 to 64.
    /// </summary>
    internal static int WeightGradGemmRows { get; set; } = 64;

    /// <summary>Whether GEMM weight gradients with bands of live kernel rows take <see cref="BandedWeightGrad"/> (on by default; off only to compare).</summary>
    internal static bool UseBandedWeightGrad { get; set; } = true;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Geometry, int[]> PositionCache = new();

    /// <summary>Where each valid output position (image, row, column, in that order) lies in the phase layout; cached per geometry.</summary>
    public static int[] Positions(in Geometry g)
    {
        if (PositionCache.TryGetValue(g, out var cached)) return cached;
        if (PositionCache.Count > 4096) PositionCache.Clear();
        var pos = new int[g.N * g.Ho * g.Wo];
        for (int n = 0, q = 0; n < g.N; n++)
            for (int oh = 0; oh < g.Ho; oh++)
                for (int ow = 0; ow < g.Wo; ow++) pos[q++] = (n * g.Hq + oh) * g.Wq + ow;
        return PositionCache[g] = pos;
    }

    /// <summary>
    /// dw[M, taps] += Σ_batch dY[n, M, Ho, Wo]·im2col(images)ᵀ. For many output channels (<see cref="WeightGradGemmRows"/>)
    /// a packed GEMM whose reduction runs over the valid output positions only (<see cref="TapColumnsSource"/>): the phase
    /// layout's padding rows and columns, most of it for a dilated convolution on a small map, are not summed, and where
    /// bands of output rows leave many kernel rows dead, neither are their taps (<see cref="BandedWeightGrad"/>). Otherwise
    /// dot products along the phase layout, zeros at its padding, with the taps split across cores.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void WeightGrad(float* dy, int dyImageStride, int m, float* images, int imageStride, in Geometry g, int[] offsets, float* dw, int threads)
    {
        bool gemm = m >= WeightGradGemmRows;
        int hq = g.Hq, wq = g.Wq, ho = g.Ho, wo = g.Wo, taps = g.Taps, spatial = ho * wo;
        // The reduction length: the valid positions (GEMM), or the phase plane rounded up to whole vectors (dot products).
        int k = gemm ? g.N * spatial : (g.Plane + 15) / 16 * 16;
        var buf = BufferPool.Rent(g.BufferSize + k);
        var dyw = BufferPool.Rent(m * k);
        fixed (float* pb = buf) fixed (float* pd = dyw) fixed (int* po = offsets)
        {
            Prepare(images, imageStride, g, pb);
            new Span<float>(pb + g.BufferSize, k).Clear();
            if (gemm && UseBandedWeightGrad && LiveRows.Of(g) is { } bands && BandedWeightGrad.Pays(g, bands)) BandedWeightGrad.Run(dy, dyImageStride, m, pb, g, offsets, bands, dw, pd, threads);
            else if (gemm)
            {
                // dY as [M, images·Ho·Wo].
                for (int n = 0; n < g.N; n++)
                    for (int r = 0; r < m; r++)
                        new ReadOnlySpan<float>(dy + (long)n * dyImageStride + (long)r * spatial, spatial).CopyTo(new Span<float>(pd + (long)r * k + (long)n * spatial, spatial));
                fixed (int* pp = Positions(g))
                    Gemm.Run(new MatView(pd, k, 1), new TapColumnsSource(pb, po, pp), m, taps, k, dw, taps, true, threads);
            }
            else
            {
                // dY over the stacked phase layout, zeros in the dropped rows, columns and tail.
                new Span<float>(pd, m * k).Clear();
                for (int n = 0; n < g.N; n++)
                    for (int r = 0; r < m; r++)
                        for (int oh = 0; oh < ho; oh++)
                            new ReadOnlySpan<float>(dy + (long)n * dyImageStride + ((long)r * ho + oh) * wo, wo)
                                .CopyTo(new Span<float>(pd + (long)r * k + ((long)n * hq + oh) * wq, wo));
                int t = (long)m * taps * k < 1 << 20 ? 1 : Math.Max(1, Math.Min(threads, taps / 4));
                if (t <= 1) DotKernel.Run(pd, k, pb, po, m, taps, k, dw, taps);
                else
                {
                    var pdp = pd; var pbp = pb; var pop = po; var dwp = dw;
                    int per = (taps / t + 3) / 4 * 4;
                    Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, i =>
                    {
                        int j0 = i * per, j1 = i == t - 1 ? taps : Math.Min(taps, j0 + per);
                        if (j0 < j1) DotKernel.Run(pdp, k, pbp, pop + j0, m, j1 - j0, k, dwp + j0, taps);
                    });
                }
            }
        }
        BufferPool.Return(buf);
        BufferPool.Return(dyw);
    }
}
