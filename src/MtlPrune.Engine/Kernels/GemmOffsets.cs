namespace MtlPrune.Engine.Kernels;

/// <summary>
/// The columns of a GEMM over B read in place (<see cref="Gemm.RunOffsets(MatView, float*, int*, int, in Segments, int, float*, int, bool, int)"/>)
/// in equal segments: segment (s, r), for s &lt; <see cref="Outer"/> and r &lt; <see cref="Inner"/>, has
/// <see cref="Cols"/> columns, which start at b + s·BOuter + r·BInner in B and at c + s·COuter + r·CInner in C. A
/// convolution's output positions are such segments: the images (s) and their rows (r) lie at one set of distances in
/// the phase buffer, which has padding between them, and at another in the output, which has none; so C is written
/// straight into the output, and the padding is neither computed nor copied out.
/// </summary>
internal readonly record struct Segments(int Outer, int Inner, int Cols, long BOuter, long BInner, long COuter, long CInner)
{
    /// <summary>One run of <paramref name="cols"/> columns.</summary>
    public static Segments One(int cols) => new(1, 1, cols, 0, 0, 0, 0);
    public int Count => Outer * Inner;
}

internal static unsafe partial class Gemm
{
    /// <summary>
    /// Depth of a block of the reduction over B read in place. Deeper than the packed GEMM's <c>Kc</c> (256): B is not
    /// packed here, so a deeper block costs no packing buffer, and each C tile (written straight into a convolution's
    /// output, often larger than the L2 cache) is loaded and stored once per block. An 8×576 A micro-panel (18 KB) still
    /// fits the L1 cache. Measured on the AMD EPYC, alternating 256 and 576 (minimum of 15 runs): the reference 3×3 64→64
    /// conv at 8×64×56×56 forward 8.89 → 8.66 ms, resnet-mini's 32→32 at 32×32 0.77 → 0.70 ms, DeepLab's 512→512 at
    /// 2×17×21 17.0 → 16.2 ms (input gradients alike); 1152 gained no more.
    /// </summary>
    internal static int OffsetsKc { get; set; } = 576;

    /// <summary>Whether <see cref="RunOffsets(MatView, float*, int*, int, int, int, float*, int, bool, int)"/> takes the 8×48 micro-kernel where it fits (on by default; off only to compare in benchmarks).</summary>
    internal static bool WideOffsets { get; set; } = true;

    /// <summary>
    /// C[M, N] (=|+=) A·B where B(k, j) = <c>b[off[k] + j]</c>: each B row is read in place, unpacked. Reads may run up
    /// to 31 floats past column N−1 of any row, so the caller leaves that much readable slack after the data.
    /// </summary>
    public static void RunOffsets(MatView a, float* b, int* off, int m, int n, int k, float* c, int ldc, bool accumulate, int threads) =>
        RunOffsets(a, b, off, m, Segments.One(n), k, c, ldc, accumulate, threads);

    /// <summary>
    /// <see cref="RunOffsets(MatView, float*, int*, int, int, int, float*, int, bool, int)"/> over the columns of
    /// <paramref name="seg"/>: A is packed once per block and serves every segment. Cores take whole segments when they
    /// divide evenly (or there are many), else a share of every segment's columns.
    /// </summary>
    public static void RunOffsets(MatView a, float* b, int* off, int m, in Segments seg, int k, float* c, int ldc, bool accumulate, int threads)
    {
        if (m == 0 || seg.Cols == 0 || seg.Count == 0) return;
        int panels = (seg.Cols + Nr - 1) / Nr;
        int t = (long)m * seg.Cols * seg.Count * k < 1 << 20 ? 1 : threads;
        if (t <= 1) { Segmented(a, b, off, m, seg, 0, seg.Count, 0, seg.Cols, k, c, ldc, accumulate); return; }
        bool bySegments = seg.Count % t == 0 || seg.Count >= 4 * t || panels < t;
        var body = new OffsetBody
        {
            A = a, B = b, Off = off, M = m, Seg = seg, K = k, C = c, Ldc = ldc, Accumulate = accumulate, BySegments = bySegments,
            Per = bySegments ? (seg.Count + t - 1) / t : (panels + t - 1) / t * Nr,
        };
        WorkerPool.For(bySegments ? Math.Min(t, seg.Count) : Math.Min(t, panels), ref body);
    }

    /// <summary>One thread's share of <see cref="RunOffsets(MatView, float*, int*, int, in Segments, int, float*, int, bool, int)"/>: a range of segments, or of every segment's columns.</summary>
    private struct OffsetBody : IParallelBody
    {
        public MatView A; public float* B; public int* Off; public int M, K, Ldc, Per; public Segments Seg; public float* C; public bool Accumulate, BySegments;
        public void Run(int i)
        {
            if (BySegments)
            {
                int s0 = i * Per, s1 = Math.Min(Seg.Count, s0 + Per);
                if (s0 < s1) Segmented(A, B, Off, M, Seg, s0, s1, 0, Seg.Cols, K, C, Ldc, Accumulate);
            }
            else
            {
                int j0 = i * Per, j1 = Math.Min(Seg.Cols, j0 + Per);
                if (j0 < j1) Segmented(A, B, Off, M, Seg, 0, Seg.Count, j0, j1, K, C, Ldc, Accumulate);
            }
        }
    }

    /// <summary>
    /// Of <paramref name="n"/> columns, how many the 8×48 tiles take (the rest go to 8×32 tiles, the last one partial): the
    /// split that computes the fewest columns, and of those the one with the most wide tiles. 64 columns take two narrow
    /// tiles, not a wide and a mostly empty narrow one.
    /// </summary>
    internal static int WideColumns(int n)
    {
        if (!(Simd.Use512 && WideOffsets)) return 0;
        int best = 0, bestCost = int.MaxValue;
        for (int w = 0; w <= n; w += MicroKernel.NrWide)
        {
            int cost = w + (n - w + Nr - 1) / Nr * Nr;
            if (cost <= bestCost) { best = w; bestCost = cost; }
        }
        return best;
    }

    /// <summary>Columns the tiles of <see cref="WideColumns"/> compute for <paramref name="n"/> columns.</summary>
    internal static int TiledColumns(int n)
    {
        int w = WideColumns(n);
        return w + (n - w + Nr - 1) / Nr * Nr;
    }

    /// <summary>Segments [s0, s1), columns [j0, j1) of each, on the calling thread.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Segmented(MatView a, float* b, int* off, int m, in Segments seg, int s0, int s1, int j0, int j1, int k, float* c, int ldc, bool accumulate)
    {
        int kcMax = OffsetsKc, mcMax = Math.Min(Mc, Mc * Kc / kcMax / Mr * Mr);
        var packA = _packA ??= GC.AllocateUninitializedArray<float>(Mc * Kc + 16, pinned: true);
        float* tile = stackalloc float[Mr * Nr];
        int jw = j0 + WideColumns(j1 - j0);
        fixed (float* pA0 = packA)
        {
            float* pA = Simd.Align64(pA0);
            for (int pc = 0; pc < k; pc += kcMax)
            {
                int kc = Math.Min(kcMax, k - pc);
                bool acc = accumulate || pc > 0;
                for (int ic = 0; ic < m; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, m - ic);
                    for (int ir = 0; ir < mc; ir += Mr) Pack.PanelA(a, ic + ir, m, pc, kc, pA + ir * kc);
                    for (int s = s0; s < s1; s++)
                    {
                        int so = s / seg.Inner, si = s % seg.Inner;
                        Tiles(pA, b + so * seg.BOuter + si * seg.BInner, off + pc, c + so * seg.COuter + si * seg.CInner + (long)ic * ldc, ldc, kc, acc, mc, j0, jw, j1, tile);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Rows [0, mc) of packed A against columns [j0, j1): full 8-row tiles over [j0, jw) with the wide kernel, the rest
    /// (the last rows when mc is not a multiple of 8, and the columns from jw on) with the 8×32 kernel.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Tiles(float* pA, float* b, int* off, float* c, int ldc, int kc, bool acc, int mc, int j0, int jw, int j1, float* tile)
    {
        int full = mc / Mr * Mr;
        for (int jr = j0; jr < jw; jr += MicroKernel.NrWide)
            for (int ir = 0; ir < full; ir += Mr)
                MicroKernel.RunOffsetsWide(pA + ir * kc, b + jr, off, c + (long)ir * ldc + jr, ldc, kc, acc);
        if (full < mc)
            for (int jr = j0; jr < jw; jr += Nr) OffsetTile(pA + full * kc, b + jr, off, c + (long)full * ldc + jr, ldc, kc, acc, mc - full, Math.Min(Nr, jw - jr), tile);
        for (int jr = jw; jr < j1; jr += Nr)
            for (int ir = 0; ir < mc; ir += Mr)
                OffsetTile(pA + ir * kc, b + jr, off, c + (long)ir * ldc + jr, ldc, kc, acc, Math.Min(Mr, mc - ir), Math.Min(Nr, j1 - jr), tile);
    }

    /// <summary>An mr×nr tile with the 8×32 kernel: in place when whole, else through a scratch tile.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void OffsetTile(float* a, float* b, int* off, float* c, int ldc, int kc, bool acc, int mr, int nr, float* tile)
    {
        if (mr == Mr && nr == Nr) { MicroKernel.RunOffsets(a, b, off, c, ldc, kc, acc); return; }
        for (int r = 0; r < Mr; r++)
            for (int j = 0; j < Nr; j++) tile[r * Nr + j] = acc && r < mr && j < nr ? c[(long)r * ldc + j] : 0f;
        MicroKernel.RunOffsets(a, b, off, tile, Nr, kc, true);
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < nr; j++) c[(long)r * ldc + j] = tile[r * Nr + j];
    }
}
