using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Sparse convolution over the phase buffer of <see cref="PaddedConv"/>: the im2col row of tap t is the contiguous slice
/// starting at <c>offsets[t]</c>, so output channel o at flattened column j is Σ over o's nonzero weights of
/// value·buf[offsets[tap] + j]. Each output channel's nonzeros are applied to a tile of 8 vectors of 16 columns held in
/// eight accumulators (one load and one FMA per nonzero and vector), so the work is proportional to the nonzeros; the
/// inputs are read in place, or from the tile's tap slices packed into an aligned panel (<see cref="SparsePlan.PackFrom"/>),
/// and each nonzero's offset is resolved once per input size. A tile is 128 consecutive columns, or, when the
/// output rows are whole vectors, any 8 output vectors, so that the columns between rows are not computed. Rows are split across cores in parts of equal
/// nonzero counts; tiles are the outer loop, so the input slices a tile reads stay in cache across output channels.
/// Where the plan has bands of output rows (<see cref="LiveRows"/>), tiles are cut per band and compute only the band's
/// live kernel rows.
/// </summary>
internal static unsafe partial class SparseConv
{
    public const int Tile = 128;

    /// <summary>
    /// y = act(W ⊛ x + bias + residual) for every output channel of <paramref name="w"/>, against the phase buffer, laid
    /// out by <paramref name="plan"/>; the buffer must be readable up to its last offset + a tile. Columns go in tiles of
    /// <see cref="Tile"/>; within a tile the input channels go in blocks whose slices fit the L1 cache, each row's sums
    /// kept in a per-thread panel; after the last block the tile's valid positions go through the epilogue straight into
    /// y, so no full-size intermediate is written.
    /// </summary>
    public static void Run(SparseRows w, SparsePlan plan, float* buf, int columns, in SparseOutput output, int[] parts, bool vectorTiles, bool positionTiles = false,
        bool? byTiles = null)
    {
        // With positionTiles (packed plans, output rows of at least 16), a tile is 128 consecutive output positions, valid
        // ones only, gathered per tap into the packed panel across row ends: for outputs whose rows are not whole vectors
        // (DeepLab's 37×49), no padding column is computed and no copy of the input is made.
        if (positionTiles && (vectorTiles || plan.PackFrom is null || output.Width < 16)) throw new ArgumentException("SparseConv: position tiles need a packed plan, output rows of 16 or more, and no vector tiles.");
        // With vectorTiles (output rows must be whole 16-float vectors), a tile is any 8 output vectors, each read from its
        // own place in the buffer: the columns between rows (the padding, as wide as the dilation) and between images are
        // not computed. Otherwise a tile is 128 consecutive buffer columns, valid or not, which touch fewer cache lines.
        if (vectorTiles && !output.WholeVectors) throw new ArgumentException("SparseConv: vector tiles need output rows of whole vectors.");
        int vectors = vectorTiles ? output.Images * output.Height * (output.Width / 16) : 0;
        // Tiles are cut from segments: the whole output, or, with bands (LiveRows), each band of output rows of each image,
        // which computes only its own run of each row's nonzeros.
        var bands = plan.Bands;
        int nseg = bands is null ? 1 : output.Images * bands.Length;
        Segment* segs = stackalloc Segment[Math.Min(nseg, 256)];
        var heap = nseg > 256 ? new Segment[nseg] : null;
        fixed (Segment* hs = heap) fixed (int* allRuns = plan.Runs) fixed (int* offs = plan.Offsets) fixed (float* val = plan.Values) fixed (int* packFrom = plan.PackFrom)
        fixed (int* bandRuns = plan.BandRuns)
        {
            if (hs != null) segs = hs;
            int tiles = 0;
            for (int i = 0; i < nseg; i++)
            {
                int first, count, kh0 = 0, kh1 = plan.KernelTaps / plan.KernelW;
                int* from = allRuns;
                if (bands is null) (first, count) = (0, vectorTiles ? vectors : positionTiles ? output.Images * output.Height * output.Width : columns);
                else
                {
                    var band = bands[i % bands.Length];
                    (kh0, kh1) = (band.Kh0, band.Kh1);
                    int img = i / bands.Length, rows = band.Row1 - band.Row0;
                    if (vectorTiles) (first, count) = ((img * output.Height + band.Row0) * (output.Width / 16), rows * (output.Width / 16));
                    else if (positionTiles) (first, count) = ((img * output.Height + band.Row0) * output.Width, rows * output.Width);
                    else (first, count) = ((img * output.PhaseRows + band.Row0) * output.PhaseWidth, (rows - 1) * output.PhaseWidth + output.Width);
                    from = bandRuns + (long)(i % bands.Length) * 2 * w.Rows * (plan.Blocks + 1);
                }
                segs[i] = new Segment { First = first, Count = count, TileStart = tiles, From = from, Kh0 = kh0, Kh1 = kh1 };
                tiles += vectorTiles ? (count + 7) / 8 : (count + Tile - 1) / Tile;
            }
            // Unless the caller says (byTiles), wide, shallow layers (4+ tiles per core, at most 64 output channels) are split by
            // columns: each core then reads only its part of the input and writes only its part of the output, instead of every
            // core streaming the whole input for its rows (DeepLab's 1024→40 1×1 head at 37×49, 15 tiles: 1.17 → 0.91 ms with the
            // split). Deeper layers keep the split by rows, whose per-core panel of sums stays small enough for the L1 cache (512
            // rows by columns measured 5-15% slower on DeepLab's dilated layers). Packed layers of few tiles gain from the split
            // by columns too, since with rows every core packs every tile: resnet-mini's 128→128 at 16×16 (2 tiles) measured 10%
            // faster, its strided 64→128 7% (medians of 30 alternated rounds); a compact model times both.
            int threads = parts.Length - 1;
            bool byColumns = threads > 1 && (byTiles ?? (tiles >= 4 * threads && w.Rows <= 64));
            var body = new Body
            {
                Blocks = plan.Blocks, Offs = offs, Val = val, Buf = buf, Output = output, Parts = parts,
                Rows = w.Rows, AllTiles = tiles, SplitTiles = byColumns, Threads = threads, Vectors = vectorTiles, Positions = positionTiles,
                Segs = segs, Segments = nseg,
                PackFrom = packFrom, PackTaps = plan.PackFrom is null ? 0 : plan.TapsPerBlock, Taps = plan.Taps,
                KernelTaps = plan.KernelTaps, KernelRows = plan.KernelTaps / plan.KernelW, KernelW = plan.KernelW,
            };
            WorkerPool.For(threads, ref body);
        }
    }

    /// <summary>
    /// Consecutive output units (columns of the buffer, or output vectors) computed with one set of each row's and
    /// block's nonzero runs: run (r, b) is [From[2i], From[2i + 1]) for i = r·(Blocks + 1) + b (the plan's pairs,
    /// <see cref="SparsePlan.Runs"/> or a band's <see cref="SparsePlan.BandRuns"/>). Its tiles are numbered from
    /// <see cref="TileStart"/>. Its nonzeros lie on kernel rows [Kh0, Kh1).
    /// </summary>
    private struct Segment { public int First, Count, TileStart, Kh0, Kh1; public int* From; }

    /// <summary>Ints from one run's (from, to) pair to the next in the plan's run tables.</summary>
    private const int Pair = 2;

    private struct Body : IParallelBody
    {
        public int Blocks; public int* Offs; public float* Val; public float* Buf; public SparseOutput Output; public int[] Parts;
        /// <summary>With <see cref="SplitTiles"/>, part p takes every row and tiles [p·AllTiles/Threads, (p+1)·AllTiles/Threads); otherwise rows Parts[p]..Parts[p+1] and every tile.</summary>
        public int Rows, AllTiles, Threads;
        public bool SplitTiles, Vectors, Positions;
        public Segment* Segs; public int Segments;
        /// <summary>With <see cref="PackTaps"/> &gt; 0, each block's tap slices of a tile are copied into an aligned panel first (see <see cref="Pack"/>).</summary>
        public int* PackFrom; public int PackTaps, Taps;
        /// <summary>Taps per input channel (Kh·Kw), and the kernel's rows and width, for <see cref="Pack"/> to skip a band's dead kernel rows.</summary>
        public int KernelTaps, KernelRows, KernelW;
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int p)
        {
            int r0 = Parts[p], r1 = Parts[p + 1], t0 = 0, t1 = AllTiles;
            if (SplitTiles) { r0 = 0; r1 = Rows; t0 = (int)((long)p * AllTiles / Threads); t1 = (int)((long)(p + 1) * AllTiles / Threads); }
            int stride = Blocks + 1, rows = r1 - r0;
            if (rows <= 0 || t1 <= t0) return;
            bool wide = Simd.Use512;
            var rent = rows * Tile > 16384 ? BufferPool.Rent(rows * Tile) : null;
            float* stack = stackalloc float[rent is null ? rows * Tile : 1];
            int* cols = stackalloc int[8], packCols = stackalloc int[8];
            long* yo = stackalloc long[8], ro = stackalloc long[8];
            // Vector tiles on AVX-512: the last block's kernel applies the epilogue and stores each vector straight into y.
            bool fused = Vectors && wide;
            // Position tiles on AVX-512: the same, each vector stored in its two pieces under masks (Pieces).
            bool fusedPositions = Positions && wide && Avx512F.IsSupported;
            var pieces = stackalloc Piece[8];
            float* y = Output.Y, res = Output.Residual;
            long ycs = Output.YChannelStride, rcs = Output.RChannelStride;
            for (int j = 0; j < 8; j++) packCols[j] = 16 * j;
            var runs = stackalloc Run8[8];
            // Position tiles: each panel vector's two pieces (the end of one output row, the start of the next) and the
            // tile's runs of positions along output rows.
            var gather = stackalloc Gather[8];
            var posRuns = stackalloc PosRun[MaxPositionRuns];
            var packRent = PackTaps > 0 ? BufferPool.Rent(PackTaps * Tile + Simd.AlignSlack) : null;
            int s = 0;
            fixed (float* rented = rent) fixed (float* packRented = packRent) fixed (float* bias = Output.Biases)
            {
                float* panel = rent is null ? stack : rented, pack = PackTaps > 0 ? Simd.Align64(packRented) : null;
                for (int t = t0; t < t1; t++)
                {
                    while (s + 1 < Segments && Segs[s + 1].TileStart <= t) s++;
                    var seg = Segs[s];
                    int local = t - seg.TileStart;
                    int* from = seg.From, to = seg.From + 1;
                    int nruns = Vectors ? VectorTile(seg.First + local * 8, seg.First + seg.Count - 1, cols, runs, yo, ro) : 0, col = seg.First + local * Tile;
                    if (Positions) nruns = PositionTile(col, seg.First + seg.Count - 1, gather, posRuns, fusedPositions ? pieces : null);
                    else if (!Vectors) for (int j = 0; j < 8; j++) cols[j] = col + 16 * j;
                    for (int b = 0; b < Blocks; b++)
                    {
                        float* src = Buf; int* at = cols;
                        if (Positions) { PackPositions(b, gather, pack, wide, seg.Kh0, seg.Kh1); src = pack; at = packCols; }
                        else if (pack is not null) { Pack(b, cols, pack, wide, seg.Kh0, seg.Kh1); src = pack; at = packCols; }
                        bool last = (fused || fusedPositions) && b == Blocks - 1;
                        // The tile's 8 vectors side by side (packed, 128 consecutive columns, or a vector tile that is one
                        // piece of an output row): all rows in one call, the last block of a vector tile through the epilogue.
                        bool sideBySide = at == packCols || !Vectors || (nruns == 1 && runs[0].Count == 8);
                        if (wide && sideBySide && (!last || at == cols || Positions))
                        {
                            OutRows outRows = default;
                            if (last) outRows = new OutRows { Y = y + (long)r0 * ycs, YStride = ycs, Residual = res == null ? null : res + (long)r0 * rcs, RStride = rcs, YOff = yo, ROff = ro, Bias = bias == null ? null : bias + r0, Act = Output.Act, Pieces = Positions ? pieces : null };
                            Rows512(src + at[0], Offs, Val, from + (long)(r0 * stride + b) * Pair, to + (long)(r0 * stride + b) * Pair, stride * Pair, rows, panel, b > 0, last ? &outRows : null);
                            continue;
                        }
                        for (int r = r0; r < r1; r++)
                        {
                            int i = (r * stride + b) * Pair, a = from[i], n = to[i] - a;
                            if (b > 0 && n == 0 && !last) continue;
                            float* o = panel + (long)(r - r0) * Tile;
                            if (last)
                            {
                                var dst = new OutVectors(y + r * ycs, res is null ? null : res + r * rcs, yo, ro, Output.Bias(r), Output.Act);
                                Vectors512(src, at, Offs + a, Val + a, n, o, b > 0, &dst);
                            }
                            else if (wide) Vectors512(src, at, Offs + a, Val + a, n, o, b > 0);
                            else Vectors256(src, at, Offs + a, Val + a, n, o, b > 0);
                        }
                    }
                    if (fused || fusedPositions) continue;
                    for (int r = r0; r < r1; r++)
                    {
                        float* o = panel + (long)(r - r0) * Tile;
                        if (Positions)
                            for (int k = 0; k < nruns; k++) Output.StoreRun(o + posRuns[k].First, r, posRuns[k].Image, posRuns[k].Row, posRuns[k].X, posRuns[k].Length);
                        else if (Vectors)
                            for (int k = 0; k < nruns; k++) Output.StoreRun(o + runs[k].First * 16, r, runs[k].Image, runs[k].Row, runs[k].X, runs[k].Count * 16);
                        else Output.Store(o, r, col, Math.Min(Tile, seg.First + seg.Count - col));
                    }
                }
            }
            if (rent is not null) BufferPool.Return(rent);
            if (packRent is not null) BufferPool.Return(packRent);
        }

        /// <summary>
        /// Copies the 8 vectors of the tile (buffer columns <paramref name="cols"/>) of each tap of block b whose kernel row
        /// is in [<paramref name="kh0"/>, <paramref name="kh1"/>) into
        /// <paramref name="pack"/>, a tile per tap, 64-byte aligned: the kernel's loads then each read one cache line, and
        /// each copied vector serves every output channel with a nonzero on that tap.
        /// </summary>
        private void Pack(int b, int* cols, float* pack, bool wide, int kh0, int kh1)
        {
            int t0 = b * PackTaps, t1 = Math.Min(Taps, t0 + PackTaps);
            for (int t = t0; t < t1; t++)
            {
                if (kh1 - kh0 < KernelRows && (uint)(t % KernelTaps / KernelW - kh0) >= (uint)(kh1 - kh0)) continue;   // a dead kernel row of this band: never read
                float* s = Buf + PackFrom[t], d = pack + (long)(t - t0) * Tile;
                if (wide) for (int j = 0; j < 8; j++) Vector512.Load(s + cols[j]).Store(d + 16 * j);
                else for (int j = 0; j < 8; j++) { Vector256.Load(s + cols[j]).Store(d + 16 * j); Vector256.Load(s + cols[j] + 8).Store(d + 16 * j + 8); }
            }
        }

        /// <summary>
        /// <see cref="Pack"/> for a position tile: panel vector j of each tap is lanes [0, LengthA) from the buffer at
        /// ColumnA and lanes [LengthA, LengthA + LengthB) from ColumnB (the next output row's start), zero beyond (masked
        /// loads on AVX-512, which read nothing outside their lanes).
        /// </summary>
        private void PackPositions(int b, Gather* g, float* pack, bool wide, int kh0, int kh1)
        {
            int t0 = b * PackTaps, t1 = Math.Min(Taps, t0 + PackTaps);
            bool masked = wide && Avx512F.IsSupported;
            var lanes = Vector512<int>.Indices;
            for (int t = t0; t < t1; t++)
            {
                if (kh1 - kh0 < KernelRows && (uint)(t % KernelTaps / KernelW - kh0) >= (uint)(kh1 - kh0)) continue;   // a dead kernel row of this band: never read
                float* s = Buf + PackFrom[t], d = pack + (long)(t - t0) * Tile;
                for (int j = 0; j < 8; j++, d += 16)
                {
                    var gj = g[j];
                    if (masked)
                    {
                        if (gj.LengthA == 16) { Vector512.Load(s + gj.ColumnA).Store(d); continue; }
                        var ma = Vector512.LessThan(lanes, Vector512.Create(gj.LengthA)).AsSingle();
                        var mb = Vector512.LessThan(lanes, Vector512.Create(gj.LengthA + gj.LengthB)).AsSingle() & ~ma;
                        var v = Avx512F.MaskLoad(s + gj.ColumnA, ma, Vector512<float>.Zero);
                        Avx512F.MaskLoad(s + gj.ColumnB - gj.LengthA, mb, v).Store(d);
                        continue;
                    }
                    int i = 0;
                    for (; i < gj.LengthA; i++) d[i] = s[gj.ColumnA + i];
                    for (int k = 0; k < gj.LengthB; k++, i++) d[i] = s[gj.ColumnB + k];
                    for (; i < 16; i++) d[i] = 0f;
                }
            }
        }

        /// <summary>
        /// The position tile of output positions [<paramref name="p0"/>, p0 + 128) ∩ [.., <paramref name="last"/>] (output
        /// rows at least 16 wide, so a vector of 16 positions spans at most two rows): each panel vector's pieces in the
        /// buffer, and the tile's runs along output rows for the store. Returns the number of runs.
        /// </summary>
        private int PositionTile(int p0, int last, Gather* g, PosRun* runs, Piece* pieces = null)
        {
            int wo = Output.Width, perImage = Output.Height * wo, hq = Output.PhaseRows, wq = Output.PhaseWidth;
            int nruns = 0;
            for (int j = 0; j < 8; j++)
            {
                int p = p0 + 16 * j, n = Math.Clamp(last - p + 1, 0, 16);
                if (n == 0) { g[j] = default; if (pieces != null) pieces[j] = default; continue; }
                int img = p / perImage, rem = p - img * perImage, row = rem / wo, x = rem - row * wo;
                int a = Math.Min(n, wo - x);
                var gj = new Gather { ColumnA = (img * hq + row) * wq + x, LengthA = a, LengthB = n - a };
                Piece pc = default;
                if (pieces != null) pc = new Piece { YA = Output.YOffset(img, row, x), RA = Output.ROffset(img, row, x), LengthA = a, LengthB = n - a };
                if (n > a)
                {
                    int q = p + a, imgB = q / perImage, rowB = (q - imgB * perImage) / wo;
                    gj.ColumnB = (imgB * hq + rowB) * wq;
                    if (pieces != null) { pc.YB = Output.YOffset(imgB, rowB, 0); pc.RB = Output.ROffset(imgB, rowB, 0); }
                }
                g[j] = gj;
                if (pieces != null) pieces[j] = pc;
            }
            for (int p = p0, end = Math.Min(p0 + Tile - 1, last); p <= end;)
            {
                int img = p / perImage, rem = p - img * perImage, row = rem / wo, x = rem - row * wo, len = Math.Min(wo - x, end - p + 1);
                runs[nruns++] = new PosRun { First = p - p0, Image = img, Row = row, X = x, Length = len };
                p += len;
            }
            return nruns;
        }

        /// <summary>
        /// The vector tile of output vectors [<paramref name="v0"/>, v0 + 8) (a tile reaching past <paramref name="last"/>
        /// repeats that vector, computed and not stored, or stored twice with the same values by the fused epilogue): the
        /// buffer column of each, the runs of vectors that lie side by side in one output row, and each vector's place in y
        /// and in the residual (channel 0).
        /// </summary>
        private int VectorTile(int v0, int last, int* cols, Run8* runs, long* yo, long* ro)
        {
            int perRow = Output.Width / 16, perImage = Output.Height * perRow, hq = Output.PhaseRows, wq = Output.PhaseWidth;
            int nruns = 0;
            for (int j = 0; j < 8; j++)
            {
                int v = Math.Min(v0 + j, last), img = v / perImage, rem = v - img * perImage, row = rem / perRow, x = (rem - row * perRow) * 16;
                cols[j] = (img * hq + row) * wq + x;
                yo[j] = Output.YOffset(img, row, x); ro[j] = Output.ROffset(img, row, x);
                if (v0 + j > last) continue;
                if (nruns > 0 && runs[nruns - 1].Image == img && runs[nruns - 1].Row == row) runs[nruns - 1].Count++;
                else runs[nruns++] = new Run8 { First = j, Image = img, Row = row, X = x, Count = 1 };
            }
            return nruns;
        }
    }

    /// <summary>Runs of a position tile: at most 128 / 16 + 2 with output rows of at least 16.</summary>
    private const int MaxPositionRuns = Tile / 16 + 2;

    /// <summary>A position tile's panel vector: lanes [0, LengthA) from buffer column ColumnA on, then LengthB from ColumnB on.</summary>
    private struct Gather { public int ColumnA, LengthA, ColumnB, LengthB; }

    /// <summary>Positions [First, First + Length) of a position tile: output image, row and first column.</summary>
    private struct PosRun { public int First, Image, Row, X, Length; }

    /// <summary>Vectors [First, First + Count) of a vector tile: output image, row and first column.</summary>
    private struct Run8 { public int First, Image, Row, X, Count; }

    /// <summary>
    /// A tile of 8 vectors of 16 columns, vector j starting at buffer column <paramref name="cols"/>[j]: one load and one
    /// FMA per nonzero and vector, eight accumulators. Not inlined: alone, the loop keeps its pointers and accumulators in
    /// registers (one pointer spilled; inlined into the row loop the JIT spilled loop state to the stack, and the
    /// store-to-load round trips tripled the time per nonzero). Eight pointers cost nothing against one pointer and
    /// fixed steps of 16 (measured alike on 16-128 channels at 10-30% density).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Vectors512(float* b, int* cols, int* offs, float* val, int n, float* o, bool accumulate, OutVectors* to = null)
    {
        float* q0 = b + cols[0], q1 = b + cols[1], q2 = b + cols[2], q3 = b + cols[3], q4 = b + cols[4], q5 = b + cols[5], q6 = b + cols[6], q7 = b + cols[7];
        Vector512<float> c0, c1, c2, c3, c4, c5, c6, c7;
        if (accumulate)
        {
            c0 = Vector512.Load(o); c1 = Vector512.Load(o + 16); c2 = Vector512.Load(o + 32); c3 = Vector512.Load(o + 48);
            c4 = Vector512.Load(o + 64); c5 = Vector512.Load(o + 80); c6 = Vector512.Load(o + 96); c7 = Vector512.Load(o + 112);
        }
        else c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = default;
        // Pointer steps, not an index: the loop then needs 12 general registers (8 inputs, offsets, values, end, offset) and
        // the JIT keeps all of them in registers; with an index it spilled the eighth input pointer and reloaded it per
        // nonzero (11 loads per 8 FMAs instead of 10; no difference measured on the Intel Xeon, alternated on 32-128 channels).
        for (int* end = offs + n; offs < end; offs++, val++)
        {
            int off = *offs;
            var v = Vector512.Create(*val);
            c0 = Vector512.FusedMultiplyAdd(v, Vector512.Load(q0 + off), c0);
            c1 = Vector512.FusedMultiplyAdd(v, Vector512.Load(q1 + off), c1);
            c2 = Vector512.FusedMultiplyAdd(v, Vector512.Load(q2 + off), c2);
            c3 = Vector512.FusedMultiplyAdd(v, Vector512.Load(q3 + off), c3);
            c4 = Vector512.FusedMultiplyAdd(v, Vector512.Load(q4 + off), c4);
            c5 = Vector512.FusedMultiplyAdd(v, Vector512.Load(q5 + off), c5);
            c6 = Vector512.FusedMultiplyAdd(v, Vector512.Load(q6 + off), c6);
            c7 = Vector512.FusedMultiplyAdd(v, Vector512.Load(q7 + off), c7);
        }
        if (to != null) Finish(c0, c1, c2, c3, c4, c5, c6, c7, to);
        else { c0.Store(o); c1.Store(o + 16); c2.Store(o + 32); c3.Store(o + 48); c4.Store(o + 64); c5.Store(o + 80); c6.Store(o + 96); c7.Store(o + 112); }
    }

    /// <summary>
    /// <see cref="Vectors512"/> for a tile whose 8 vectors lie side by side from <paramref name="q"/> (packed tiles, or
    /// 128 consecutive columns), for <paramref name="rows"/> rows in one call: row k's nonzeros [from[k·step], to[k·step])
    /// into panel row k (Tile floats apart); a row without nonzeros in a later block is left alone. One call per block
    /// instead of one per row: the call's set-up is paid once, and the accumulators' load and store is all that remains
    /// per row; one input pointer with fixed steps leaves the JIT registers for the row loop (with eight, it spilled two
    /// of them inside the inner loop). With <paramref name="fused"/> (a vector tile's last block) every row goes through
    /// the epilogue into y: on resnet-mini's 128-wide layers (a tile is one output row) 0.175-0.21 → 0.167-0.18 ms per layer
    /// at 70%. Tiles of vectors from several rows, each row's distance kept in a register (one addressing mode per load),
    /// measured no faster than a call per row (resnet-mini's 64-16-wide layers at 70%), and were not kept.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Rows512(float* q, int* offs0, float* val0, int* from, int* to, int step, int rows, float* o, bool accumulate, OutRows* fused = null)
    {
        for (int k = 0; k < rows; k++, o += Tile, from += step, to += step)
        {
            int a = *from, n = *to - a;
            if (accumulate && n == 0 && fused == null) continue;
            Vector512<float> c0, c1, c2, c3, c4, c5, c6, c7;
            if (accumulate)
            {
                c0 = Vector512.Load(o); c1 = Vector512.Load(o + 16); c2 = Vector512.Load(o + 32); c3 = Vector512.Load(o + 48);
                c4 = Vector512.Load(o + 64); c5 = Vector512.Load(o + 80); c6 = Vector512.Load(o + 96); c7 = Vector512.Load(o + 112);
            }
            else c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = default;
            float* val = val0 + a;
            for (int* offs = offs0 + a, end = offs + n; offs < end; offs++, val++)
            {
                float* p = q + *offs;
                var v = Vector512.Create(*val);
                c0 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p), c0);
                c1 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 16), c1);
                c2 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 32), c2);
                c3 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 48), c3);
                c4 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 64), c4);
                c5 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 80), c5);
                c6 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 96), c6);
                c7 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 112), c7);
            }
            if (fused != null && fused->Pieces != null)
            {
                float* yk = fused->Y + k * fused->YStride, rk = fused->Residual == null ? null : fused->Residual + k * fused->RStride;
                float bk = fused->Bias == null ? 0f : fused->Bias[k];
                var p = fused->Pieces;
                FinishPiece(c0, yk, rk, p, bk, fused->Act); FinishPiece(c1, yk, rk, p + 1, bk, fused->Act);
                FinishPiece(c2, yk, rk, p + 2, bk, fused->Act); FinishPiece(c3, yk, rk, p + 3, bk, fused->Act);
                FinishPiece(c4, yk, rk, p + 4, bk, fused->Act); FinishPiece(c5, yk, rk, p + 5, bk, fused->Act);
                FinishPiece(c6, yk, rk, p + 6, bk, fused->Act); FinishPiece(c7, yk, rk, p + 7, bk, fused->Act);
            }
            else if (fused != null)
            {
                var dst = new OutVectors(fused->Y + k * fused->YStride, fused->Residual == null ? null : fused->Residual + k * fused->RStride,
                    fused->YOff, fused->ROff, fused->Bias == null ? 0f : fused->Bias[k], fused->Act);
                Finish(c0, c1, c2, c3, c4, c5, c6, c7, &dst);
            }
            else { c0.Store(o); c1.Store(o + 16); c2.Store(o + 32); c3.Store(o + 48); c4.Store(o + 64); c5.Store(o + 80); c6.Store(o + 96); c7.Store(o + 112); }
        }
    }

    /// <summary><see cref="Vectors512"/> with Vector256 (or its software fallback): vectors 0-3, then 4-7, as two halves of 8 accumulators.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Vectors256(float* b, int* cols, int* offs, float* val, int n, float* o, bool accumulate)
    {
        for (int half = 0; half < 8; half += 4)
        {
            float* q0 = b + cols[half], q1 = b + cols[half + 1], q2 = b + cols[half + 2], q3 = b + cols[half + 3];
            float* d = o + half * 16;
            Vector256<float> c0, c1, c2, c3, c4, c5, c6, c7;
            if (accumulate)
            {
                c0 = Vector256.Load(d); c1 = Vector256.Load(d + 8); c2 = Vector256.Load(d + 16); c3 = Vector256.Load(d + 24);
                c4 = Vector256.Load(d + 32); c5 = Vector256.Load(d + 40); c6 = Vector256.Load(d + 48); c7 = Vector256.Load(d + 56);
            }
            else c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = default;
            for (int k = 0; k < n; k++)
            {
                int off = offs[k];
                var v = Vector256.Create(val[k]);
                c0 = Vector256.FusedMultiplyAdd(v, Vector256.Load(q0 + off), c0);
                c1 = Vector256.FusedMultiplyAdd(v, Vector256.Load(q0 + off + 8), c1);
                c2 = Vector256.FusedMultiplyAdd(v, Vector256.Load(q1 + off), c2);
                c3 = Vector256.FusedMultiplyAdd(v, Vector256.Load(q1 + off + 8), c3);
                c4 = Vector256.FusedMultiplyAdd(v, Vector256.Load(q2 + off), c4);
                c5 = Vector256.FusedMultiplyAdd(v, Vector256.Load(q2 + off + 8), c5);
                c6 = Vector256.FusedMultiplyAdd(v, Vector256.Load(q3 + off), c6);
                c7 = Vector256.FusedMultiplyAdd(v, Vector256.Load(q3 + off + 8), c7);
            }
            c0.Store(d); c1.Store(d + 8); c2.Store(d + 16); c3.Store(d + 24); c4.Store(d + 32); c5.Store(d + 40); c6.Store(d + 48); c7.Store(d + 56);
        }
    }
}
