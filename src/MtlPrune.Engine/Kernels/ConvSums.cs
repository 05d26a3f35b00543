namespace MtlPrune.Engine.Kernels;

/// <summary>
/// The dense convolution's sums over a prepared phase buffer, shared by the engine's forward (and its stride-1 input
/// gradient, a forward convolution of dY) and the inference runtime's dense kernel: sums[M, ld] = W·B with
/// B(tap, j) = src[offsets[tap] + j], where output rows lie <c>width</c> columns apart. Two savings over one GEMM on the
/// phase buffer, both for a dilation large against the map (DeepLab's ASPP, rates 6-24 on 36×48): over
/// <see cref="ShiftedColumns"/> the padding columns are not computed, and split into <see cref="LiveRows"/> bands only the
/// kernel rows that read the input are (on DeepLab's 512→1024 ASPP convolutions at 36×48 the two took the engine's forward
/// from 105-167 ms to the inference runtime's 52-95 ms).
/// </summary>
internal static unsafe class ConvSums
{
    /// <summary>Where the sums are computed from: the phase buffer, or shifted copies of it, and their column layout.</summary>
    public readonly struct Source(float* src, int[] offsets, int width, int columns, int ld)
    {
        /// <summary>Where tap offsets start from.</summary>
        public readonly float* Src = src;
        /// <summary>Offset of each tap (c, i, j) from <see cref="Src"/>.</summary>
        public readonly int[] Offsets = offsets;
        /// <summary>Columns from one output row to the next; Hq rows per image.</summary>
        public readonly int Width = width;
        /// <summary>Flattened columns to compute, up to the last valid position of the last image.</summary>
        public readonly int Columns = columns;
        /// <summary>Floats between one output channel's sums and the next.</summary>
        public readonly int Ld = ld;
    }

    /// <summary>The phase buffer itself as a source: rows Wq apart, one image's Hq rows after another.</summary>
    public static Source Phase(float* pb, in PaddedConv.Geometry g) => new(pb, PaddedConv.Offsets(g), g.Wq, g.Columns, g.Plane);

    /// <summary>How the engine's forward computes a layer's sums (<see cref="Choose"/>).</summary>
    public enum Layout
    {
        /// <summary>Over the phase buffer's flattened columns into a scratch matrix, padding columns and rows included, then copied out.</summary>
        Stacked,
        /// <summary>Over the phase buffer, straight into the output, one segment per output row (or per image when rows have no padding).</summary>
        Rows,
        /// <summary>Over shifted copies, straight into the output, one segment per image.</summary>
        Copies,
    }

    /// <summary>
    /// Columns a segment of <paramref name="cols"/> columns costs: its whole tiles, and half a tile more when the last one is
    /// partial (computed through a scratch tile and copied out). Measured on the reference 3×3 64→64 conv at 8×64×56×56:
    /// 56-column rows, a 32-column tile and a partial one each, took 12.7 ms against 9.2 stacked.
    /// </summary>
    private static int SegmentCost(int cols)
    {
        int wide = Gemm.WideColumns(cols);
        return Gemm.TiledColumns(cols) + ((cols - wide) % MicroKernel.Nr != 0 ? MicroKernel.Nr / 2 : 0);
    }

    /// <summary>A layout every layer takes where it can (null: <see cref="Choose"/> decides); only to compare in benchmarks.</summary>
    internal static Layout? Forced { get; set; }

    /// <summary>Multiply-adds that copying one output float out of the scratch matrix costs about as much as.</summary>
    private const int StoreCost = 16;

    /// <summary>
    /// The layout of the fewest multiply-add equivalents for <paramref name="m"/> output channels over geometry
    /// <paramref name="g"/>: the columns each computes (whole tiles: <see cref="Gemm.TiledColumns"/>) times the multiply-adds per
    /// column, plus the copy out of the scratch matrix (stacked) or the shifted copies. A 16×16 map in a batch of 8 computes
    /// 2572 stacked columns for 2048 outputs, an 8×8 one 778 (with copies 624) for 512; a 64×64 one has 32-float rows.
    /// </summary>
    public static Layout Choose(in PaddedConv.Geometry g, int m)
    {
        if (Forced is { } f && (f != Layout.Copies || ShiftedColumns.Applies(g))) return f;
        long macs = (long)m * g.Taps;
        long stacked = macs * SegmentCost(g.Columns) + (long)StoreCost * m * g.Columns;
        long rows = macs * (g.Wq == g.Wo ? (long)g.N * SegmentCost(g.Ho * g.Wo) : (long)g.N * g.Ho * SegmentCost(g.Wo));
        long copies = ShiftedColumns.Applies(g) ? ShiftedColumns.CopyCost * ShiftedColumns.Size(g) + macs * g.N * SegmentCost(g.Ho * g.Wo) : long.MaxValue;
        if (copies < rows && copies < stacked) return Layout.Copies;
        return rows <= stacked ? Layout.Rows : Layout.Stacked;
    }

    /// <summary>The shifted copies (filled from <paramref name="pb"/> into <paramref name="copies"/>) as a source.</summary>
    public static Source Shifted(float* pb, in PaddedConv.Geometry g, float* copies, bool parallel)
    {
        ShiftedColumns.Fill(pb, g, copies, PaddedConv.Slack, parallel);
        return new(copies, ShiftedColumns.Offsets(g), g.Wo, ShiftedColumns.Columns(g), ShiftedColumns.Plane(g));
    }

    /// <summary>Floats of a buffer for the shifted copies (aligned with <see cref="Simd.Align64"/>).</summary>
    public static int CopiesSize(in PaddedConv.Geometry g) => checked((int)ShiftedColumns.Size(g) + PaddedConv.Slack + Simd.AlignSlack);

    /// <summary>
    /// sums[M, ld] = W·B over the source's columns. <paramref name="w"/> is [M, taps] with taps ordered [C, Kh, Kw];
    /// where bands leave kernel rows out (<see cref="LiveRows.Of"/> not null), <paramref name="rowsFirst"/> must hold the same
    /// weights ordered [Kh, C, Kw] (<see cref="RowsFirst"/>), so that a band's live kernel rows are one run of taps: then one
    /// GEMM per band (a segment per image) over those taps only, and the rows of a band with none cleared.
    /// </summary>
    public static void Run(float* w, float* rowsFirst, int m, in PaddedConv.Geometry g, in Source s, float* sums, int threads)
    {
        if (LiveRows.Of(g) is not { } bands)
        {
            fixed (int* po = s.Offsets)
                Gemm.RunOffsets(new MatView(w, g.Taps, 1), s.Src, po, m, s.Columns, g.Taps, sums, s.Ld, false, threads);
            return;
        }
        Banded(rowsFirst, bands, m, g, s, new Target(sums, (long)g.Hq * s.Width, s.Ld, s.Width, direct: false), false, threads);
    }

    /// <summary>
    /// out[n, M, Ho, Wo] (=|+=) W·B: <see cref="Run"/> written straight into the output (images
    /// <paramref name="outImageStride"/> floats apart), segment by segment (<see cref="Segments"/>): per image when the
    /// source's rows have no padding columns (shifted copies, or a layer without column padding), else per output row.
    /// Bands of live kernel rows as in <see cref="Run"/>; the output rows of a band with none are cleared (or left, when
    /// accumulating).
    /// </summary>
    public static void RunDirect(float* w, float* rowsFirst, int m, in PaddedConv.Geometry g, in Source s, float* outp, int outImageStride, bool accumulate, int threads)
    {
        var t = new Target(outp, outImageStride, g.Ho * g.Wo, g.Wo, direct: true);
        if (LiveRows.Of(g) is not { } bands)
        {
            fixed (int* po = s.Offsets) Rows(w, po, g.Taps, m, g, s, 0, g.Ho, t, accumulate, threads);
            return;
        }
        Banded(rowsFirst, bands, m, g, s, t, accumulate, threads);
    }

    /// <summary>
    /// Where sums go: the scratch matrix in the source's own layout (rows <c>Width</c> apart, padding computed), or the output
    /// (rows Wo apart); images <see cref="ImageStride"/> floats apart, output channels <see cref="Ld"/>.
    /// </summary>
    private readonly struct Target(float* p, long imageStride, int ld, int rowStride, bool direct)
    {
        public readonly float* P = p;
        public readonly long ImageStride = imageStride;
        public readonly int Ld = ld, RowStride = rowStride;
        public readonly bool Direct = direct;
    }

    /// <summary>Each band of live kernel rows over its taps only (weights and offsets ordered by kernel row); a band with none cleared, unless accumulating.</summary>
    private static void Banded(float* rowsFirst, LiveRows.Band[] bands, int m, in PaddedConv.Geometry g, in Source s, in Target t, bool accumulate, int threads)
    {
        if (rowsFirst is null) throw new ArgumentNullException(nameof(rowsFirst), "ConvSums: banded sums need the weights ordered by kernel row.");
        int perRow = g.C * g.Kw;
        fixed (int* po = RowsFirstOffsets(s.Offsets, g))
            foreach (var band in bands)
            {
                int k0 = band.Kh0 * perRow, k = (band.Kh1 - band.Kh0) * perRow;
                if (k > 0) Rows(rowsFirst + k0, po + k0, k, m, g, s, band.Row0, band.Row1, t, accumulate, threads);
                else if (!accumulate)
                    for (int n = 0; n < g.N; n++)
                        for (int o = 0; o < m; o++)
                            new Span<float>(t.P + n * t.ImageStride + (long)o * t.Ld + (long)band.Row0 * t.RowStride, (band.Row1 - band.Row0 - 1) * t.RowStride + g.Wo).Clear();
            }
    }

    /// <summary>
    /// Output rows [r0, r1) of every image over taps [0, k) of <paramref name="w"/> (rows g.Taps apart) and <paramref name="off"/>:
    /// into the scratch matrix one segment per image, padding columns included; into the output one per image when the
    /// source's rows are as wide as the output's, else one per output row.
    /// </summary>
    private static void Rows(float* w, int* off, int k, int m, in PaddedConv.Geometry g, in Source s, int r0, int r1, in Target t, bool accumulate, int threads)
    {
        var seg = !t.Direct ? new Segments(g.N, 1, (r1 - r0 - 1) * s.Width + g.Wo, (long)g.Hq * s.Width, 0, t.ImageStride, 0)
            : s.Width == g.Wo ? new Segments(g.N, 1, (r1 - r0) * g.Wo, (long)g.Hq * g.Wo, 0, t.ImageStride, 0)
            : new Segments(g.N, r1 - r0, g.Wo, (long)g.Hq * s.Width, s.Width, t.ImageStride, g.Wo);
        Gemm.RunOffsets(new MatView(w, g.Taps, 1), s.Src + (long)r0 * s.Width, off, m, seg, k, t.P + (long)r0 * t.RowStride, t.Ld, accumulate, threads);
    }

    /// <summary>Whether <see cref="Run"/> needs the weights ordered by kernel row for geometry <paramref name="g"/>.</summary>
    public static bool NeedsRowsFirst(in PaddedConv.Geometry g) => LiveRows.Of(g) is not null;

    /// <summary>
    /// Rows of [C, Kh, Kw] taps (<paramref name="rows"/> of them, <paramref name="src"/>) written as [Kh, C, Kw] to
    /// <paramref name="dst"/>, rows split across cores when <paramref name="parallel"/>: written in order, read Kh·Kw floats
    /// apart (a 512→1024 3×3 layer's 4.7 M weights in about 1 ms on one core, where a span copy per kernel row took 6).
    /// </summary>
    public static void RowsFirst(float* src, int rows, int c, int kh, int kw, float* dst, bool parallel) =>
        Reorder(src, rows, c, kh, kw, dst, parallel, back: false);

    /// <summary>
    /// The inverse of <see cref="RowsFirst(float*, int, int, int, int, float*, bool)"/>, added:
    /// dst[o, (ci·Kh + i)·Kw + j] += src[o, (i·C + ci)·Kw + j], rows split across cores when <paramref name="parallel"/>.
    /// </summary>
    public static void AddRowsFirstBack(float* src, int rows, int c, int kh, int kw, float* dst, bool parallel) =>
        Reorder(src, rows, c, kh, kw, dst, parallel, back: true);

    private static void Reorder(float* src, int rows, int c, int kh, int kw, float* dst, bool parallel, bool back)
    {
        var body = new ReorderBody { Src = src, Dst = dst, C = c, Kh = kh, Kw = kw, Back = back };
        if (parallel) WorkerPool.For(rows, ref body);
        else for (int o = 0; o < rows; o++) body.Run(o);
    }

    /// <summary>One row: the [Kh, C, Kw] side walked in order, the [C, Kh, Kw] side Kh·Kw floats apart; copied there, or added back.</summary>
    private struct ReorderBody : IParallelBody
    {
        public float* Src, Dst; public int C, Kh, Kw; public bool Back;
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Run(int o)
        {
            int taps = C * Kh * Kw, kk = Kh * Kw;
            float* plain = (Back ? Dst : Src) + (long)o * taps, rows = (Back ? Src : Dst) + (long)o * taps;
            for (int i = 0; i < Kh; i++)
            {
                float* p = plain + i * Kw;
                if (Back)
                    for (int ci = 0; ci < C; ci++, p += kk)
                        for (int j = 0; j < Kw; j++) p[j] += *rows++;
                else if (Kw == 3)
                    for (int ci = 0; ci < C; ci++, p += kk, rows += 3) { rows[0] = p[0]; rows[1] = p[1]; rows[2] = p[2]; }
                else
                    for (int ci = 0; ci < C; ci++, p += kk)
                        for (int j = 0; j < Kw; j++) *rows++ = p[j];
            }
        }
    }

    /// <summary><see cref="RowsFirst(float*, int, int, int, int, float*, bool)"/> for managed arrays, on the calling thread.</summary>
    public static void RowsFirst<T>(T[] src, int rows, int c, int kh, int kw, T[] dst) where T : unmanaged
    {
        int taps = c * kh * kw;
        for (int o = 0; o < rows; o++)
            for (int i = 0, d = o * taps; i < kh; i++)
                for (int ci = 0; ci < c; ci++)
                    for (int j = 0, s = o * taps + (ci * kh + i) * kw; j < kw; j++) dst[d++] = src[s + j];
    }

    // Per tap-offset table (tables are cached per geometry, so few), the same offsets ordered by kernel row.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<int[], int[]> RowsFirstCache = new();

    /// <summary>Tap offsets <paramref name="offsets"/> (of geometry <paramref name="g"/>) ordered by kernel row; cached per table.</summary>
    public static int[] RowsFirstOffsets(int[] offsets, in PaddedConv.Geometry g)
    {
        if (RowsFirstCache.TryGetValue(offsets, out var known)) return known;
        var r = new int[offsets.Length];
        RowsFirst(offsets, 1, g.C, g.Kh, g.Kw, r);
        RowsFirstCache.AddOrUpdate(offsets, r);
        return r;
    }
}
