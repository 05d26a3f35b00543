namespace MtlPrune.Engine.Kernels;

/// <summary>
/// The weight gradient of a convolution whose dilation leaves kernel rows dead over bands of output rows
/// (<see cref="LiveRows"/>): over a band a dead kernel row reads only padding, so its taps' columns are zeros there and
/// add nothing to dW. One packed GEMM per band, dW[:, live taps] += dY[:, band's positions]·colsᵀ, over that band's
/// positions (all images) and its live kernel rows' taps only, which are one run once taps are ordered by kernel row
/// (<see cref="ConvSums.RowsFirst(float*, int, int, int, int, float*, bool)"/>); the sums are then added back in the
/// weights' own order, which costs passes over dW that the unbanded GEMM does not make.
/// </summary>
internal static unsafe class BandedWeightGrad
{
    /// <summary>
    /// The share of the multiply-adds the dead kernel rows must reach. Measured on the AMD EPYC, alternating with the
    /// unbanded GEMM on DeepLab's training crop (2×17×21, 3×3): rate 12, 512→1024 (47% dead), 42.5 → 31.4 ms; rate 6
    /// (24% dead) 41.3 → 40.7 ms; rate 4, 512→512 (16% dead), 22.5 → 23.1 ms.
    /// </summary>
    public const double MinSaving = 0.3;

    /// <summary>Whether bands <paramref name="bands"/> of geometry <paramref name="g"/> leave enough out to pay (<see cref="MinSaving"/>).</summary>
    public static bool Pays(in PaddedConv.Geometry g, LiveRows.Band[] bands) =>
        (long)g.Ho * g.Kh - LiveRows.LiveKernelRows(bands) >= MinSaving * g.Ho * g.Kh;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<PaddedConv.Geometry, (int[] Pos, int[] Starts)> Cache = new();

    /// <summary>
    /// The valid output positions' places in the phase layout, band by band (then image, row, column), and where each
    /// band's run starts (one more entry: the total); cached per geometry.
    /// </summary>
    public static (int[] Pos, int[] Starts) Positions(in PaddedConv.Geometry g, LiveRows.Band[] bands)
    {
        if (Cache.TryGetValue(g, out var known)) return known;
        if (Cache.Count > 4096) Cache.Clear();
        var pos = new int[g.N * g.Ho * g.Wo];
        var starts = new int[bands.Length + 1];
        int q = 0;
        for (int b = 0; b < bands.Length; b++)
        {
            starts[b] = q;
            for (int n = 0; n < g.N; n++)
                for (int oh = bands[b].Row0; oh < bands[b].Row1; oh++)
                    for (int ow = 0; ow < g.Wo; ow++) pos[q++] = (n * g.Hq + oh) * g.Wq + ow;
        }
        starts[bands.Length] = q;
        return Cache[g] = (pos, starts);
    }

    /// <summary>
    /// dw[M, taps] += Σ_batch dY[n, M, Ho, Wo]·im2col(images)ᵀ from the prepared phase buffer <paramref name="pb"/> (with
    /// <paramref name="offsets"/>, its taps' offsets), band by band; <paramref name="pd"/> is scratch for M·N·Ho·Wo floats.
    /// </summary>
    public static void Run(float* dy, int dyImageStride, int m, float* pb, in PaddedConv.Geometry g, int[] offsets, LiveRows.Band[] bands, float* dw, float* pd, int threads)
    {
        int taps = g.Taps, spatial = g.Ho * g.Wo, k = g.N * spatial, perRow = g.C * g.Kw;
        var (pos, starts) = Positions(g, bands);
        var sums = BufferPool.Rent(m * taps);
        fixed (float* ps = sums) fixed (int* pp = pos) fixed (int* po = ConvSums.RowsFirstOffsets(offsets, g))
        {
            // dY as [M, positions in band order].
            for (int r = 0; r < m; r++)
            {
                float* d = pd + (long)r * k;
                foreach (var band in bands)
                    for (int n = 0; n < g.N; n++)
                    {
                        int len = (band.Row1 - band.Row0) * g.Wo;
                        new ReadOnlySpan<float>(dy + (long)n * dyImageStride + (long)r * spatial + (long)band.Row0 * g.Wo, len).CopyTo(new Span<float>(d, len));
                        d += len;
                    }
            }
            new Span<float>(ps, m * taps).Clear();
            for (int b = 0; b < bands.Length; b++)
            {
                int q0 = starts[b], len = starts[b + 1] - q0, k0 = bands[b].Kh0 * perRow, kt = (bands[b].Kh1 - bands[b].Kh0) * perRow;
                if (kt > 0 && len > 0)
                    Gemm.Run(new MatView(pd + q0, k, 1), new TapColumnsSource(pb, po + k0, pp + q0), m, kt, len, ps + k0, taps, true, threads);
            }
            ConvSums.AddRowsFirstBack(ps, m, g.C, g.Kh, g.Kw, dw, parallel: threads > 1);
        }
        BufferPool.Return(sums);
    }
}
