namespace MtlPrune.Engine.Kernels;

/// <summary>
/// A second layout of a stride-1 convolution's phase buffer: one copy of the padded input per kernel column j, shifted
/// left by j·dilation and cut to the output width, S[j, c, row, x] = P[c, row, x + j·Dw]. Tap (c, i, j) then reads S at
/// j·C·rows·Wo + c·rows·Wo + i·Dh·Wo, and the flattened columns run over the output width Wo instead of the padded width
/// Wq = Wo + Dw·(Kw − 1). Two gains: with a large dilation on a small map (DeepLab's ASPP: 24 on each side of 48 columns)
/// the phase buffer's columns are half padding, computed and dropped; and when Wo is a whole number of 16-float vectors,
/// every tap's slice starts on a vector boundary, so from a 64-byte-aligned buffer each vector load reads one cache line
/// (a tap of the phase buffer starts anywhere, and 15 of 16 loads straddle two). The copies cost Kw floats written per
/// input float, once per run. (Rows padded to whole vectors were tried for odd widths: 49 → 64 columns cost as much as
/// the aligned loads saved.)
/// </summary>
internal static unsafe class ShiftedColumns
{
    /// <summary>Floats written per multiply-add saved at which the copies stop paying (a copy is a load and a store, an
    /// FMA a sixteenth of a vector instruction, so one copied float costs about what 16 multiply-adds do; doubled for margin).</summary>
    public const int CopyCost = 32;

    /// <summary>
    /// Whether the copies pay for a layer of <paramref name="macsPerColumn"/> multiply-adds per output position (O·taps for
    /// the dense kernel, the nonzero weights for the sparse one) over geometry <paramref name="g"/>.
    /// </summary>
    public static bool Pays(in PaddedConv.Geometry g, long macsPerColumn)
    {
        if (!Applies(g)) return false;
        long saved = macsPerColumn * ((long)g.Columns - Columns(g));
        return saved > CopyCost * (long)Size(g);
    }

    /// <summary>Whether the copies serve a layer at all: stride 1 and more than one kernel column.</summary>
    public static bool Applies(in PaddedConv.Geometry g) => g.Sh == 1 && g.Sw == 1 && g.Kw > 1;

    /// <summary>Rows of one channel: the images' padded rows stacked, as in the phase buffer.</summary>
    private static int Rows(in PaddedConv.Geometry g) => g.N * g.Hq;

    /// <summary>Floats of the copies (without slack).</summary>
    public static long Size(in PaddedConv.Geometry g) => (long)g.Kw * g.C * Rows(g) * g.Wo;

    /// <summary>Flattened output columns over the copies: up to the last valid position of the last image.</summary>
    public static int Columns(in PaddedConv.Geometry g) => ((g.N - 1) * g.Hq + g.Ho - 1) * g.Wo + g.Wo;

    /// <summary>The floats between one row of sums and the next (a whole number of stacked images).</summary>
    public static int Plane(in PaddedConv.Geometry g) => Rows(g) * g.Wo;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<PaddedConv.Geometry, int[]> OffsetCache = new();

    /// <summary>Offset of every tap (c, i, j) into the copies; cached per geometry as <see cref="PaddedConv.Offsets"/> (callers must not modify them).</summary>
    public static int[] Offsets(in PaddedConv.Geometry g)
    {
        if (OffsetCache.TryGetValue(g, out var cached)) return cached;
        if (OffsetCache.Count > 4096) OffsetCache.Clear();
        return OffsetCache[g] = ComputeOffsets(g);
    }

    private static int[] ComputeOffsets(in PaddedConv.Geometry g)
    {
        var off = new int[g.Taps];
        long plane = Plane(g), copy = (long)g.C * plane;
        for (int c = 0, t = 0; c < g.C; c++)
            for (int i = 0; i < g.Kh; i++)
                for (int j = 0; j < g.Kw; j++)
                    off[t++] = checked((int)(j * copy + c * plane + (long)i * g.Dh * g.Wo));
        return off;
    }

    /// <summary>
    /// Fills the copies from phase buffer <paramref name="phase"/> (channels split across cores when
    /// <paramref name="parallel"/>; not from a caller that already runs on one core of several) and clears the
    /// <paramref name="slack"/> floats after them, which kernels may read past the last column.
    /// </summary>
    public static void Fill(float* phase, in PaddedConv.Geometry g, float* dst, int slack, bool parallel = true)
    {
        new Span<float>(dst + Size(g), slack).Clear();
        var body = new FillBody { Src = phase, Dst = dst, G = g };
        if (parallel) WorkerPool.For(g.C, ref body);
        else for (int c = 0; c < g.C; c++) body.Run(c);
    }

    private struct FillBody : IParallelBody
    {
        public float* Src, Dst; public PaddedConv.Geometry G;
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Run(int c)
        {
            int rows = Rows(G), wo = G.Wo, wq = G.Wq;
            long plane = Plane(G), copy = (long)G.C * plane;
            for (int j = 0; j < G.Kw; j++)
            {
                float* s = Src + (long)c * G.Plane + j * G.Dw, d = Dst + j * copy + c * plane;
                for (int r = 0; r < rows; r++) new ReadOnlySpan<float>(s + (long)r * wq, wo).CopyTo(new Span<float>(d + (long)r * wo, wo));
            }
        }
    }
}
