using MtlPrune.Engine.Inference;
using Activation = MtlPrune.Engine.Inference.Activation;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// A convolution computes the same values whatever layout its input, output and residual are in: a padded input read in
/// place (stride 1, same padding) or copied (any other geometry), a padded output whose border is left untouched, and
/// garbage (NaN) in the slack after a padded buffer, which only columns that are dropped may read; and the same with wide
/// rows (<see cref="ActivationLayout.Wide"/>), whose extra columns a convolution reading in place computes and drops.
/// </summary>
public class ActivationLayoutTests
{
    /// <summary>Copies plain [N, C, H, W] into a buffer of layout <paramref name="l"/>: border zero, slack NaN.</summary>
    private static float[] Pack(float[] plain, ActivationLayout l)
    {
        var buf = new float[l.Capacity];
        Array.Fill(buf, float.NaN, (int)l.Length, (int)(l.Capacity - l.Length));
        for (int n = 0; n < l.N; n++)
            for (int c = 0; c < l.C; c++)
                for (int r = 0; r < l.H; r++)
                    plain.AsSpan(((n * l.C + c) * l.H + r) * l.W, l.W).CopyTo(buf.AsSpan((int)l.Row(n, c, r), l.W));
        return buf;
    }

    private static float[] Unpack(float[] buf, ActivationLayout l)
    {
        var plain = new float[l.N * l.C * l.H * l.W];
        for (int n = 0; n < l.N; n++)
            for (int c = 0; c < l.C; c++)
                for (int r = 0; r < l.H; r++)
                    buf.AsSpan((int)l.Row(n, c, r), l.W).CopyTo(plain.AsSpan(((n * l.C + c) * l.H + r) * l.W, l.W));
        return plain;
    }

    [Theory]
    [InlineData(2, 16, 12, 13, 11, 3, 1, 1, 1, 1, 0.2)]      // read in place
    [InlineData(1, 8, 8, 20, 20, 3, 1, 2, 2, 2, 0.3)]        // dilated, read in place
    [InlineData(2, 8, 6, 9, 10, 3, 2, 1, 1, 1, 0.3)]         // strided: copied from the padded input
    [InlineData(1, 16, 10, 9, 9, 1, 2, 0, 1, 1, 0.5)]        // 1×1 downsample from an input padded for its neighbour
    [InlineData(1, 4, 6, 7, 7, 3, 1, 1, 1, 2, 0.5)]          // input padded more than this layer pads: copied
    [InlineData(2, 8, 12, 9, 16, 3, 1, 1, 1, 1, 0.3)]        // rows of whole vectors (the sparse kernel's vector tiles), in place
    [InlineData(1, 8, 8, 20, 32, 3, 1, 2, 2, 2, 0.3)]        // the same, dilated
    [InlineData(1, 8, 12, 5, 128, 3, 1, 1, 1, 1, 0.3)]       // rows of 8 vectors (resnet-mini's layer 1): a vector tile is one row
    [InlineData(1, 8, 64, 20, 20, 3, 1, 8, 8, 8, 0.3)]       // dilation 8 on 20 columns: dense on shifted copies of the buffer read in place
    public void PaddedLayoutsGiveThePlainResult(int n, int c, int o, int h, int w, int k, int s, int p, int d, int inPad, double density)
    {
        var rng = new Rng((ulong)(c * 7 + o + h));
        var weight = Enumerable.Range(0, o * c * k * k).Select(_ => rng.NextDouble() < density ? (float)rng.NextNormal() : 0f).ToArray();
        var bias = Enumerable.Range(0, o).Select(_ => (float)rng.NextNormal()).ToArray();
        var conv = new InferenceConv(weight, o, c, (k, k), bias, (s, s), (p, p), (d, d), 1, Activation.Relu);
        var (ho, wo) = conv.OutputSize(h, w);
        var x = Tensor.Normal(new[] { n, c, h, w }, rng).ToArray();
        var res = Tensor.Normal(new[] { n, o, ho, wo }, rng).ToArray();
        foreach (bool wide in new[] { false, true })
        {
            var xl = new ActivationLayout(n, c, h, w, inPad, inPad, wide);
            var yl = new ActivationLayout(n, o, ho, wo, 1, 1, wide);
            var rl = new ActivationLayout(n, o, ho, wo, 2, 1, wide);
            Check(xl, yl, rl);
        }

        void Check(ActivationLayout xl, ActivationLayout yl, ActivationLayout rl)
        {
            var variants = new[] { (ConvKind.Dense, SparseTiling.Auto, false), (ConvKind.Sparse, SparseTiling.Columns, false), (ConvKind.Sparse, SparseTiling.Vectors, false),
                    (ConvKind.Sparse, SparseTiling.Columns, true), (ConvKind.Sparse, SparseTiling.Vectors, true) }
                .SelectMany(v => new[] { ShiftedCopies.Auto, ShiftedCopies.On }, (v, copies) => (v.Item1, v.Item2, v.Item3, copies));
            foreach (var (kind, tiling, packed, copies) in variants)
            {
                if (tiling == SparseTiling.Vectors && wo % 16 != 0) continue;
                conv.Kind = kind; conv.Tiling = tiling; conv.Copies = copies; conv.PackTiles = packed;
                var want = new float[n * o * ho * wo];
                conv.Run(x, 0, n, h, w, want, 0, res);
                var y = new float[yl.Capacity + 3];
                conv.Run(Pack(x, xl), 0, xl, y, 3, yl, Pack(res, rl), 0, rl);
                var got = Unpack(y.AsSpan(3).ToArray(), yl);
                for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(got[i] - want[i]) <= 1e-5f * (1 + Math.Abs(want[i])), $"{kind} {tiling} packed {packed} copies {copies} [{i}] {got[i]} vs {want[i]}");
                // The border and everything outside the interior is untouched.
                var interior = new bool[y.Length];
                for (int b = 0; b < n; b++) for (int ch = 0; ch < o; ch++) for (int r = 0; r < ho; r++) for (int j = 0; j < wo; j++) interior[3 + yl.Row(b, ch, r) + j] = true;
                for (int i = 0; i < y.Length; i++) if (!interior[i]) Assert.Equal(0f, y[i]);
            }
        }
    }

    [Fact]
    public void WideRowsStartOnWholeVectors()
    {
        var l = new ActivationLayout(2, 3, 5, 20, 1, 2, Wide: true);
        Assert.Equal(0, l.RowStride % 16);
        Assert.True(l.RowStride - l.Lead - l.W >= 0);                       // the right border is this row's tail and the next row's lead
        for (int n = 0; n < l.N; n++) for (int c = 0; c < l.C; c++) for (int r = 0; r < l.H; r++) Assert.Equal(0, l.Row(n, c, r) % 16);
        Assert.Equal(l.C * l.ChannelStride + 16, l.Length);                   // the last row's right border, zero like the rest
    }

    [Fact]
    public void MismatchedLayoutsAreRejected()
    {
        var conv = new InferenceConv(new float[4 * 2 * 9], 4, 2, (3, 3), null, (1, 1), (1, 1), (1, 1), 1, Activation.None);
        var xl = new ActivationLayout(1, 2, 5, 5, 1, 1);
        var ok = new ActivationLayout(1, 4, 5, 5);
        var e = Assert.Throws<ArgumentException>(() => conv.Run(new float[xl.Length], 0, xl, new float[100], 0, ok, null, 0, ok));
        Assert.Contains("input", e.Message);                                       // no room for the slack the kernels read
        Assert.Throws<ArgumentException>(() => conv.Run(new float[xl.Capacity], 0, xl, new float[100], 0, ok with { H = 4 }, null, 0, ok));
        var dw = new InferenceConv(new float[2 * 9], 2, 2, (3, 3), null, (1, 1), (1, 1), (1, 1), 2, Activation.None);
        var two = new ActivationLayout(1, 2, 5, 5);
        Assert.Throws<ArgumentException>(() => dw.Run(new float[xl.Capacity], 0, xl, new float[50], 0, two, null, 0, two));
    }
}
