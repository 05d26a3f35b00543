namespace MtlPrune.Engine.Kernels;

/// <summary>
/// A convolution's weights [O, taps] in compressed sparse rows: for output channel o, entries
/// <c>RowStart[o] .. RowStart[o + 1]</c> give a tap index (c·Kh·Kw + i·Kw + j) and a value. Zero weights are dropped.
/// </summary>
internal sealed class SparseRows
{
    public int Rows { get; }
    public int Taps { get; }
    public int[] RowStart { get; }
    public int[] Tap { get; }
    public float[] Value { get; }
    public int Nonzeros => Value.Length;

    public SparseRows(ReadOnlySpan<float> dense, int rows, int taps)
    {
        Rows = rows; Taps = taps;
        RowStart = new int[rows + 1];
        int nnz = 0;
        foreach (var v in dense[..(rows * taps)]) if (v != 0) nnz++;
        Tap = new int[nnz]; Value = new float[nnz];
        int k = 0;
        for (int r = 0; r < rows; r++)
        {
            RowStart[r] = k;
            for (int t = 0; t < taps; t++)
            {
                float v = dense[r * taps + t];
                if (v != 0) { Tap[k] = t; Value[k] = v; k++; }
            }
        }
        RowStart[rows] = k;
    }

    /// <summary>
    /// The layout of a convolution's nonzeros for one input geometry: each nonzero's buffer offset and value, and the run of
    /// each row's nonzeros for each block of <paramref name="channelsPerBlock"/> input channels. The nonzeros are stored
    /// block after block, and within a block row after row, the order the kernel reads them in (tiles, then blocks, then
    /// rows): a block's pass over the rows then streams them from memory instead of jumping a row's length between runs
    /// (DeepLab's 512→1024 ASPP layers at 30%: 11 MB of nonzeros read once per tile, each run a jump away, kept a core at
    /// 58% of what the kernel does on nonzeros in cache). With <paramref name="packed"/>, the kernel first copies each
    /// block's tap slices of a tile into a panel of <see cref="SparseConv.Tile"/> floats per tap, and a nonzero's offset is
    /// its tap's place in that panel instead. With <paramref name="bands"/> (<see cref="LiveRows"/>), each run is ordered
    /// by kernel row (taps are c·Kh·Kw + i·<paramref name="kernelW"/> + j), so that a band's live kernel rows are one run
    /// of it, and the plan holds those runs per band.
    /// </summary>
    public SparsePlan Plan(int[] tapOffsets, int tapsPerChannel, int channelsPerBlock, bool packed = false, LiveRows.Band[]? bands = null, int kernelW = 1)
    {
        int tapsPerBlock = channelsPerBlock * tapsPerChannel;
        int channels = Taps / tapsPerChannel, blocks = (channels + channelsPerBlock - 1) / channelsPerBlock, stride = blocks + 1;
        // Where each row's block begins in the stored (row after row) order.
        var starts = new int[Rows * stride];
        for (int r = 0; r < Rows; r++)
        {
            int k = RowStart[r];
            for (int b = 0; b < blocks; b++)
            {
                starts[r * stride + b] = k;
                int end = (b + 1) * channelsPerBlock * tapsPerChannel;
                while (k < RowStart[r + 1] && Tap[k] < end) k++;
            }
            starts[r * stride + blocks] = RowStart[r + 1];
        }
        // The plan's order: block after block, row after row, each run by kernel row with bands; runs as (from, to) pairs
        // at 2·(r·stride + b) (the pair for b = blocks stays empty).
        var order = new int[Nonzeros];
        var runs = new int[2 * Rows * stride];
        int KernelRow(int k) => Tap[k] % tapsPerChannel / kernelW;
        for (int b = 0, q = 0; b < blocks; b++)
            for (int r = 0; r < Rows; r++)
            {
                int a = starts[r * stride + b], e = starts[r * stride + b + 1];
                runs[2 * (r * stride + b)] = q;
                for (int k = a; k < e; k++) order[q++] = k;
                runs[2 * (r * stride + b) + 1] = q;
                if (bands is null) continue;
                var run = order.AsSpan(q - (e - a), e - a);
                var keys = new int[run.Length];
                for (int i = 0; i < keys.Length; i++) keys[i] = KernelRow(run[i]) * Taps + Tap[run[i]];   // by kernel row, then tap (keys are unique)
                keys.AsSpan().Sort(run);
            }
        var offsets = new int[Nonzeros];
        var values = new float[Nonzeros];
        for (int q = 0; q < offsets.Length; q++)
        {
            offsets[q] = packed ? Tap[order[q]] % tapsPerBlock * SparseConv.Tile : tapOffsets[Tap[order[q]]];
            values[q] = Value[order[q]];
        }
        int[]? bandRuns = null;
        if (bands is not null)
        {
            // Per band, each row's and block's run [from, to) of live kernel rows, as pairs like runs.
            bandRuns = new int[bands.Length * 2 * Rows * stride];
            for (int bi = 0; bi < bands.Length; bi++)
            {
                var band = bandRuns.AsSpan(bi * 2 * Rows * stride, 2 * Rows * stride);
                for (int r = 0; r < Rows; r++)
                    for (int b = 0; b < blocks; b++)
                    {
                        int i = 2 * (r * stride + b), a = runs[i], e = runs[i + 1];
                        while (a < e && KernelRow(order[a]) < bands[bi].Kh0) a++;
                        int to = a;
                        while (to < e && KernelRow(order[to]) < bands[bi].Kh1) to++;
                        band[i] = a; band[i + 1] = to;
                    }
            }
        }
        return new SparsePlan(offsets, values, runs, blocks, packed ? tapOffsets : null, tapsPerBlock, Taps, bands, bandRuns, tapsPerChannel, kernelW);
    }

    /// <summary>Row ranges of about equal nonzero counts, for <paramref name="parts"/> threads.</summary>
    public int[] Split(int parts)
    {
        var cut = new int[parts + 1];
        cut[parts] = Rows;
        for (int p = 1, r = 0; p < parts; p++)
        {
            long want = (long)Nonzeros * p / parts;
            while (r < Rows && RowStart[r] < want) r++;
            cut[p] = r;
        }
        return cut;
    }
}

/// <summary>
/// A convolution's nonzeros laid out for one input geometry (<see cref="SparseRows.Plan"/>): <see cref="Offsets"/> and
/// <see cref="Values"/> in the plan's order, and <see cref="Runs"/>, the run of row r and block b as the (from, to) pair at
/// 2·(r·(Blocks + 1) + b). <see cref="PackFrom"/>, when set, holds every tap's buffer offset: the kernel packs block b's
/// taps [b·TapsPerBlock, (b+1)·TapsPerBlock) ∩ [0, Taps). With <see cref="Bands"/>, <see cref="BandRuns"/> holds, band
/// after band, the run of each row and block that band computes, paired like <see cref="Runs"/>. Taps are
/// c·KernelTaps + i·KernelW + j.
/// </summary>
internal sealed record SparsePlan(int[] Offsets, float[] Values, int[] Runs, int Blocks, int[]? PackFrom = null, int TapsPerBlock = 0, int Taps = 0,
    LiveRows.Band[]? Bands = null, int[]? BandRuns = null, int KernelTaps = 1, int KernelW = 1);
