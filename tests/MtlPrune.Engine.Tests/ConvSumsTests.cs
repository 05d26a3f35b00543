using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// <see cref="ConvSums"/>: the shapes <see cref="ConvReferenceTests"/> adds for it take the paths it is there for (bands of
/// live kernel rows, shifted copies), and the weights' reordering by kernel row is the same on every path.
/// </summary>
public class ConvSumsTests
{
    private static PaddedConv.Geometry G(int n, int c, int h, int w, int k, int p, int d) => new(n, c, h, w, k, k, 1, 1, p, p, d, d);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ReferenceShapesTakeBandsAndCopies(int n)
    {
        // 8 → 40 channels: the forward over copies of the 8 input channels; the input gradient (a forward convolution of
        // dY's 40 channels into 8, same padding) in bands, its copies of 40 channels too dear for 8 outputs.
        var g = G(n, 8, 12, 16, 3, 6, 6);
        Assert.True(ConvSums.NeedsRowsFirst(g));
        Assert.True(ConvSums.TakesCopies(g, 40));
        var gt = G(n, 40, 12, 16, 3, 6, 6);
        Assert.True(ConvSums.NeedsRowsFirst(gt));
        Assert.False(ConvSums.TakesCopies(gt, 8));
        // 40 → 8 channels, the other way round: copies for the input gradient only.
        Assert.False(ConvSums.TakesCopies(G(1, 40, 12, 16, 3, 6, 6), 8));
        Assert.True(ConvSums.TakesCopies(G(1, 8, 12, 16, 3, 6, 6), 40));
    }

    [Fact]
    public void BandsWithoutCopies()
    {
        var g = G(1, 5, 10, 9, 3, 4, 4);
        Assert.True(ConvSums.NeedsRowsFirst(g));
        Assert.False(ConvSums.TakesCopies(g, 7));
    }

    [Fact]
    public void UndilatedLayersTakeNeither()
    {
        var g = G(8, 64, 56, 56, 3, 1, 1);
        Assert.False(ConvSums.NeedsRowsFirst(g));
        Assert.False(ConvSums.TakesCopies(g, 64));
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
