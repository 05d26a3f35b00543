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
    /// place in that panel instead.
    /// </summary>
    public SparsePlan Plan(int[] tapOffsets, int tapsPerChannel, int channelsPerBlock, bool packed = false)
    {
        var offsets = new int[Nonzeros];
        int tapsPerBlock = channelsPerBlock * tapsPerChannel;
        for (int k = 0; k < offsets.Length; k++) offsets[k] = packed ? Tap[k] % tapsPerBlock * SparseConv.Tile : tapOffsets[Tap[k]];
        int channels = Taps / tapsPerChannel, blocks = (channels + channelsPerBlock - 1) / channelsPerBlock;
        var starts = new int[Rows * (blocks + 1)];
        for (int r = 0; r < Rows; r++)
        {
            int k = RowStart[r];
            for (int b = 0; b < blocks; b++)
            {
                starts[r * (blocks + 1) + b] = k;
                int end = (b + 1) * channelsPerBlock * tapsPerChannel;
                while (k < RowStart[r + 1] && Tap[k] < end) k++;
            }
            starts[r * (blocks + 1) + blocks] = RowStart[r + 1];
        }
        return new SparsePlan(offsets, starts, blocks, packed ? tapOffsets : null, tapsPerBlock, Taps);
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
/// </summary>
internal sealed record SparsePlan(int[] Offsets, int[] BlockStart, int Blocks, int[]? PackFrom = null, int TapsPerBlock = 0, int Taps = 0);
