namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Bands of output rows over which the same kernel rows read the input. Kernel row i reads input row y·Sh − Ph + i·Dh at
/// output row y; where that lies outside the image it reads only padding and adds nothing. With a dilation large against
/// the map (DeepLab's ASPP: rates 6-24 on 36 rows) the outer kernel rows are dead over a large part of the output: at rate
/// 24 on 36 rows, 4 of 9 taps' work (rates 6/12/18/24 on 36 rows: 11/22/33/44% of the multiply-adds). A convolution split
/// into these bands computes only the live kernel rows of each: the same sums without the zero terms. Live kernel rows are
/// always one contiguous range, since the input row grows with i. <see cref="DeadTaps"/> is the case where a kernel row is
/// dead over the whole output.
/// </summary>
internal static class LiveRows
{
    /// <summary>Output rows [Row0, Row1) of every image, over which kernel rows [Kh0, Kh1) read the input and the others only padding.</summary>
    public readonly record struct Band(int Row0, int Row1, int Kh0, int Kh1);

    /// <summary>The share of a layer's multiply-adds the dead kernel rows must reach before the layer is split (a band
    /// costs a call of each kernel, and a partial tile at its end).</summary>
    public const double MinSaving = 0.1;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<PaddedConv.Geometry, Band[]?> Cache = new();

    /// <summary>
    /// The bands of geometry <paramref name="g"/>, top to bottom, or null when splitting would save less than
    /// <see cref="MinSaving"/>; cached per geometry (callers must not modify them).
    /// </summary>
    public static Band[]? Of(in PaddedConv.Geometry g)
    {
        if (Cache.TryGetValue(g, out var known)) return known;
        if (Cache.Count > 4096) Cache.Clear();
        return Cache[g] = Compute(g);
    }

    private static Band[]? Compute(in PaddedConv.Geometry g)
    {
        var bands = new List<Band>();
        for (int y = 0; y < g.Ho;)
        {
            var live = Live(g, y);
            int y1 = y + 1;
            while (y1 < g.Ho && Live(g, y1) == live) y1++;
            bands.Add(new Band(y, y1, live.Kh0, live.Kh1));
            y = y1;
        }
        long dead = (long)g.Ho * g.Kh - LiveKernelRows(bands);
        return dead >= MinSaving * g.Ho * g.Kh ? bands.ToArray() : null;
    }

    /// <summary>Σ over the bands of output rows × live kernel rows: of Ho·Kh, the (output row, kernel row) pairs computed.</summary>
    public static long LiveKernelRows(IEnumerable<Band> bands)
    {
        long live = 0;
        foreach (var b in bands) live += (long)(b.Row1 - b.Row0) * (b.Kh1 - b.Kh0);
        return live;
    }

    /// <summary>The kernel rows [Kh0, Kh1) that read the input at output row <paramref name="y"/> (empty when none does).</summary>
    public static (int Kh0, int Kh1) Live(in PaddedConv.Geometry g, int y)
    {
        int first = y * g.Sh - g.Ph;
        int a = 0, b = g.Kh;
        while (a < g.Kh && (uint)(first + a * g.Dh) >= (uint)g.H) a++;
        while (b > a && (uint)(first + (b - 1) * g.Dh) >= (uint)g.H) b--;
        return (a, b);
    }
}
