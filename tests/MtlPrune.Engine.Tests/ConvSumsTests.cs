using MtlPrune.Engine.Kernels;
using Layout = MtlPrune.Engine.Kernels.ConvSums.Layout;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// <see cref="ConvSums"/>: the shapes <see cref="ConvReferenceTests"/> runs take every layout of <see cref="ConvSums.Choose"/>,
/// with and without bands of live kernel rows (so that the reference test checks each against direct loops), the choice
/// follows the columns each layout computes, and the weights' reordering by kernel row is the same on every path and is undone by adding back.
/// </summary>
public class ConvSumsTests
{
    private static PaddedConv.Geometry G(int n, int c, int h, int w, int k, int p, int d, int s = 1) => new(n, c, h, w, k, k, s, s, p, p, d, d);

    /// <summary>
    /// Forward geometries of reference cases (one image per chunk: batches of one, or of two on two cores) and of their
    /// input gradients (a forward convolution of dY into the input channels, same padding), with the layout each takes.
    /// </summary>
    public static TheoryData<int, int, int, int, int, int, int, int, bool, string> Reference => new()
    {
        // c, h, w, k, pad, dilation, stride, output channels, bands, layout
        { 8, 12, 16, 3, 6, 6, 1, 40, true, "Copies" },      // [1|2, 8, 12, 16] * [40, 8, 3, 3] forward; [1, 40, 12, 16] * [8, 40, 3, 3] input gradient
        { 40, 12, 16, 3, 6, 6, 1, 8, true, "Stacked" },     // the same two the other way round
        { 5, 10, 9, 3, 4, 4, 1, 7, true, "Stacked" },       // [1, 5, 10, 9] * [7, 5, 3, 3]
        { 3, 10, 32, 3, 4, 4, 1, 5, true, "Rows" },         // [1, 3, 10, 32] * [5, 3, 3, 3]
        { 5, 10, 32, 3, 4, 4, 1, 3, true, "Rows" },         // same, input gradient
        { 4, 48, 50, 3, 1, 1, 1, 6, false, "Stacked" },     // [1, 4, 48, 50] * [6, 4, 3, 3]: 50-column rows would end in a partial tile each
        { 4, 20, 64, 3, 1, 1, 1, 6, false, "Rows" },        // [1, 4, 20, 64] * [6, 4, 3, 3]: two whole tiles a row
        { 17, 5, 5, 1, 0, 1, 2, 19, false, "Rows" },        // [1, 17, 5, 5] * [19, 17, 1, 1] stride 2: rows without padding, one segment per image
        { 20, 17, 17, 3, 1, 1, 2, 40, false, "Stacked" },   // [3, 20, 17, 17] * [40, 20, 3, 3] stride 2: 9-wide rows
    };

    [Theory]
    [MemberData(nameof(Reference))]
    public void ReferenceShapesTakeEveryLayout(int c, int h, int w, int k, int p, int d, int s, int m, bool bands, string layout)
    {
        var g = G(1, c, h, w, k, p, d, s);
        Assert.Equal(bands, ConvSums.NeedsRowsFirst(g));
        Assert.Equal(Enum.Parse<Layout>(layout), ConvSums.Choose(g, m));
    }

    [Fact]
    public void ReferenceShapesTakeTheBandedWeightGradient()
    {
        // [1, 6, 8, 10] * [128, 6, 3, 3] rate 4 and [2, 5, 10, 12] * [70, 5, 3, 3] rate 5 (one image per chunk): GEMM weight
        // gradients (64+ output channels) with a third of the kernel rows dead; rate 2 on 8 rows, a sixth, stays unbanded.
        Assert.True(128 >= PaddedConv.WeightGradGemmRows && 70 >= PaddedConv.WeightGradGemmRows);
        foreach (var g in new[] { G(1, 6, 8, 10, 3, 4, 4), G(1, 5, 10, 12, 3, 5, 5) })
            Assert.True(LiveRows.Of(g) is { } bands && BandedWeightGrad.Pays(g, bands));
        Assert.False(LiveRows.Of(G(1, 6, 8, 10, 3, 2, 2)) is { } b2 && BandedWeightGrad.Pays(G(1, 6, 8, 10, 3, 2, 2), b2));
    }

    [Fact]
    public void ChoiceFollowsTheComputedColumns()
    {
        // resnet-mini at batch 8: 64-wide rows are whole tiles (row segments); a 16×16 or 8×8 map stacked computes 26% or
        // 52% more columns than it has outputs, and copies with one segment per image none.
        Assert.Equal(Layout.Rows, ConvSums.Choose(G(8, 16, 64, 64, 3, 1, 1), 16));
        Assert.Equal(Layout.Copies, ConvSums.Choose(G(8, 64, 16, 16, 3, 1, 1), 64));
        Assert.Equal(Layout.Copies, ConvSums.Choose(G(8, 128, 8, 8, 3, 1, 1), 128));
        // An odd width: a tile per row would compute 21 columns of 32; stride 2 has no copies, so the padding is computed.
        Assert.Equal(Layout.Stacked, ConvSums.Choose(G(1, 128, 42, 42, 3, 1, 1, s: 2), 256));
        // With stride 1, copies and one segment per image compute 368 columns for 357 outputs where stacked computes 400.
        Assert.Equal(Layout.Copies, ConvSums.Choose(G(1, 256, 17, 21, 3, 1, 1), 256));
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(256, 256)]
    [InlineData(357, 368)]
    [InlineData(9, 32)]
    [InlineData(96, 96)]
    public void TiledColumnsAreTheFewestWholeTiles(int n, int tiled)
    {
        if (!Simd.Use512) tiled = (n + 31) / 32 * 32;
        Assert.Equal(tiled, Gemm.TiledColumns(n));
    }

    [Theory]
    [InlineData(5, 7, 3, 3, false)]
    [InlineData(33, 4, 3, 3, true)]
    [InlineData(6, 5, 5, 2, true)]
    [InlineData(3, 2, 1, 4, false)]
    public unsafe void RowsFirstMatchesTheDefinition(int rows, int c, int kh, int kw, bool parallel)
    {
        int taps = c * kh * kw;
        var rng = new Rng(3);
        var src = Tensor.Normal(new[] { rows * taps }, rng).ToArray();
        var fast = new float[src.Length];
        fixed (float* ps = src) fixed (float* pd = fast) ConvSums.RowsFirst(ps, rows, c, kh, kw, pd, parallel);
        var managed = new float[src.Length];
        ConvSums.RowsFirst(src, rows, c, kh, kw, managed);
        // Added back onto ones: 1 + the original.
        var back = Enumerable.Repeat(1f, src.Length).ToArray();
        fixed (float* pf = fast) fixed (float* pb = back) ConvSums.AddRowsFirstBack(pf, rows, c, kh, kw, pb, parallel);
        for (int i = 0; i < src.Length; i++) Assert.Equal(1f + src[i], back[i]);
        for (int o = 0; o < rows; o++)
            for (int ci = 0; ci < c; ci++)
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                    {
                        float want = src[o * taps + (ci * kh + i) * kw + j];
                        Assert.Equal(want, fast[o * taps + (i * c + ci) * kw + j]);
                        Assert.Equal(want, managed[o * taps + (i * c + ci) * kw + j]);
                    }
    }
}
