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
    /// The layout of a convolution's nonzeros for one input geometry: each nonzero's buffer offset, and where each row's
    /// nonzeros for each block of <paramref name="channelsPerBlock"/> input channels begin (rows are in tap order, so a
    /// block is a contiguous run of each row). With <paramref name="packed"/>, the kernel first copies each block's tap
    /// slices of a tile into a panel of <see cref="SparseConv.Tile"/> floats per tap, and a nonzero's offset is its tap's
    /// place in that panel instead. With <paramref name="bands"/> (<see cref="LiveRows"/>), each row's nonzeros within a
    /// block are ordered by kernel row (taps are c·Kh·Kw + i·<paramref name="kernelW"/> + j), so that a band's live kernel
    /// rows are one run of them, and the plan holds those runs per band and its own values in that order.
    /// </summary>
    public SparsePlan Plan(int[] tapOffsets, int tapsPerChannel, int channelsPerBlock, bool packed = false, LiveRows.Band[]? bands = null, int kernelW = 1)
    {
        int tapsPerBlock = channelsPerBlock * tapsPerChannel;
        int channels = Taps / tapsPerChannel, blocks = (channels + channelsPerBlock - 1) / channelsPerBlock, stride = blocks + 1;
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
        // The nonzeros in the plan's order: as stored, or, with bands, by kernel row within each row's block.
        var order = new int[Nonzeros];
        for (int k = 0; k < order.Length; k++) order[k] = k;
        int KernelRow(int k) => Tap[k] % tapsPerChannel / kernelW;
        if (bands is not null)
            for (int r = 0; r < Rows; r++)
                for (int b = 0; b < blocks; b++)
                {
                    int a = starts[r * stride + b], e = starts[r * stride + b + 1];
                    var run = order.AsSpan(a, e - a);
                    var keys = new int[run.Length];
                    for (int q = 0; q < keys.Length; q++) keys[q] = KernelRow(run[q]) * Taps + Tap[run[q]];   // by kernel row, then tap (keys are unique)
                    keys.AsSpan().Sort(run);
                }
        var offsets = new int[Nonzeros];
        for (int q = 0; q < offsets.Length; q++) offsets[q] = packed ? Tap[order[q]] % tapsPerBlock * SparseConv.Tile : tapOffsets[Tap[order[q]]];
        float[]? values = null;
        int[]? bandRuns = null;
        if (bands is not null)
        {
            values = new float[Nonzeros];
            for (int q = 0; q < values.Length; q++) values[q] = Value[order[q]];
            // Per band, each row's and block's run [from, to) of live kernel rows, as pairs: from at 2·(r·stride + b), to after it.
            bandRuns = new int[bands.Length * 2 * Rows * stride];
            for (int bi = 0; bi < bands.Length; bi++)
            {
                var runs = bandRuns.AsSpan(bi * 2 * Rows * stride, 2 * Rows * stride);
                for (int r = 0; r < Rows; r++)
                    for (int b = 0; b < blocks; b++)
                    {
                        int a = starts[r * stride + b], e = starts[r * stride + b + 1];
                        while (a < e && KernelRow(order[a]) < bands[bi].Kh0) a++;
                        int to = a;
                        while (to < e && KernelRow(order[to]) < bands[bi].Kh1) to++;
                        runs[2 * (r * stride + b)] = a; runs[2 * (r * stride + b) + 1] = to;
                    }
            }
        }
        return new SparsePlan(offsets, starts, blocks, packed ? tapOffsets : null, tapsPerBlock, Taps, values, bands, bandRuns, tapsPerChannel, kernelW);
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
/// A convolution's nonzeros laid out for one input geometry (<see cref="SparseRows.Plan"/>). <see cref="PackFrom"/>, when
/// set, holds every tap's buffer offset: the kernel packs block b's taps [b·TapsPerBlock, (b+1)·TapsPerBlock) ∩ [0, Taps).
/// With <see cref="Bands"/>, <see cref="Values"/> holds the nonzeros in the plan's order, and <see cref="BandRuns"/>, band
/// after band, the run of each row and block that band computes, as (from, to) pairs. Taps are c·KernelTaps + i·KernelW + j.
/// </summary>
internal sealed record SparsePlan(int[] Offsets, int[] BlockStart, int Blocks, int[]? PackFrom = null, int TapsPerBlock = 0, int Taps = 0,
    float[]? Values = null, LiveRows.Band[]? Bands = null, int[]? BandRuns = null, int KernelTaps = 1, int KernelW = 1);
