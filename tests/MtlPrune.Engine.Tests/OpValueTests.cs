using MtlPrune.Engine;

namespace MtlPrune.Engine.Tests;

/// <summary>Forward values against naive references and against numbers PyTorch prints for the same inputs.</summary>
public class OpValueTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(6, 33, 20)]
    [InlineData(13, 37, 35)]
    [InlineData(64, 70, 300)]
    public void MatMulMatchesNaive(int m, int k, int n)
    {
        var rng = new Rng(5);
        var a = Tensor.Normal(new[] { m, k }, rng); var b = Tensor.Normal(new[] { k, n }, rng);
        var c = Tensor.MatMul(a, b);
        var e = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i, p] * b[p, j];
                e[i * n + j] = (float)s;
            }
        TensorAssert.Close(e, c.ToArray(), 1e-4, 1e-4);
    }

    [Fact]
    public void BilinearMatchesPyTorch()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        // F.interpolate(x, size=(4, 4), mode='bilinear', align_corners=False)
        TensorAssert.Close(new float[] { 1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4 },
            Tensor.Interpolate(x, 4, 4, ResizeMode.Bilinear, false).ToArray());
        // align_corners=True, size (3, 3)
        TensorAssert.Close(new float[] { 1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4 }, Tensor.Interpolate(x, 3, 3, ResizeMode.Bilinear, true).ToArray());
        // Downsampling [1, 2, 3, 4] to 2 samples (align_corners=False) averages neighbours: 1.5, 3.5
        var row = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 1, 1, 1, 4);
        TensorAssert.Close(new float[] { 1.5f, 3.5f }, Tensor.Interpolate(row, 1, 2, ResizeMode.Bilinear, false).ToArray());
        // Output size 1 with align_corners=True takes the first element
        TensorAssert.Close(new float[] { 1 }, Tensor.Interpolate(x, 1, 1, ResizeMode.Bilinear, true).ToArray());
    }

    [Fact]
    public void NearestMatchesPyTorch()
    {
        var row = Tensor.FromArray(new float[] { 10, 20, 30 }, 1, 1, 1, 3);
        // 3 -> 5: source indices floor(o * 0.6) = 0, 0, 1, 1, 2
        TensorAssert.Close(new float[] { 10, 10, 20, 20, 30 }, Tensor.Interpolate(row, 1, 5, ResizeMode.Nearest).ToArray());
        // 3 -> 2: floor(o * 1.5) = 0, 1
        TensorAssert.Close(new float[] { 10, 20 }, Tensor.Interpolate(row, 1, 2, ResizeMode.Nearest).ToArray());
    }

    [Theory]
    [InlineData(7, 3, 2, 0, false, 3)]
    [InlineData(8, 3, 2, 0, false, 3)]
    [InlineData(8, 3, 2, 0, true, 4)]
    [InlineData(161, 3, 2, 1, true, 81)]   // DeepLab stem: 321 -> conv s2 -> 161 -> this max-pool -> 81
    [InlineData(4, 2, 2, 1, true, 3)]
    [InlineData(5, 2, 2, 1, true, 3)]      // last window would start in the padding: dropped
    [InlineData(1, 1, 1, 0, false, 1)]
    public void PoolOutputSizeFollowsPyTorch(int input, int k, int s, int p, bool ceil, int expected) =>
        Assert.Equal(expected, Tensor.PoolOutputSize(input, k, s, p, 1, ceil, "test"));

    [Fact]
    public void MaxPoolValuesAndPadding()
    {
        var x = Tensor.FromArray(new float[] { -1, -2, -3, -4, -5, -6, -7, -8, -9 }, 1, 1, 3, 3);
        // k=2, s=2, p=1, ceil: windows see padding (−∞), never chosen
        var y = Tensor.MaxPool2d(x, (2, 2), (2, 2), (1, 1), ceilMode: true);
        Assert.Equal(new[] { 1, 1, 2, 2 }, y.Shape);
        TensorAssert.Close(new float[] { -1, -2, -4, -5 }, y.ToArray());
    }

    [Fact]
    public void AvgPoolDivisorsFollowPyTorch()
    {
        var x = Tensor.Ones(1, 1, 3, 3);
        // k=2, s=2, p=1: corner window holds 1 real + 3 padded positions
        TensorAssert.Close(new float[] { 0.25f, 0.5f, 0.5f, 1f }, Tensor.AvgPool2d(x, (2, 2), (2, 2), (1, 1), false, countIncludePad: true).ToArray());
        TensorAssert.Close(new float[] { 1, 1, 1, 1 }, Tensor.AvgPool2d(x, (2, 2), (2, 2), (1, 1), false, countIncludePad: false).ToArray());
        // ceil mode on 3x3, k=2, s=2, p=0: the extra window is clipped at the border and divides by its clipped size
        TensorAssert.Close(new float[] { 1, 1, 1, 1 }, Tensor.AvgPool2d(x, (2, 2), (2, 2), (0, 0), true, true).ToArray());
    }

    [Fact]
    public void AdaptivePoolWindowsOverlapLikePyTorch()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5 }, 1, 1, 1, 5);
        // 5 -> 3: windows [0,2), [1,4), [3,5)
        TensorAssert.Close(new float[] { 1.5f, 3f, 4.5f }, Tensor.AdaptiveAvgPool2d(x, 1, 3).ToArray());
    }

    [Fact]
    public void SoftmaxAndLogSoftmaxAgree()
    {
        var x = Tensor.Normal(new[] { 2, 5, 3 }, new Rng(1)) * 10f;
        var p = Tensor.Softmax(x); var lp = Tensor.LogSoftmax(x);
        TensorAssert.Close(lp.Exp(), p, 1e-6, 1e-5);
        var sums = p.Sum(new[] { 1 });
        TensorAssert.Close(Tensor.Ones(2, 3), sums, 1e-6);
    }

    [Fact]
    public void L2NormalizeGivesUnitVectors()
    {
        var y = Tensor.L2Normalize(Tensor.Normal(new[] { 2, 3, 4, 4 }, new Rng(1)));
        TensorAssert.Close(Tensor.Ones(2, 1, 4, 4), y.Square().Sum(new[] { 1 }, true), 1e-6);
        Assert.Equal(0f, Tensor.L2Normalize(Tensor.Zeros(1, 3, 1, 1)).Sum().Item());
    }

    [Fact]
    public void CrossEntropyByHand()
    {
        // One pixel, logits [0, ln 3]: p = [1/4, 3/4]. Label 1 -> −ln(3/4); label 0 -> −ln(1/4).
        var logits = Tensor.FromArray(new[] { 0f, MathF.Log(3), 0f, MathF.Log(3), 0f, MathF.Log(3) }, 3, 2);
        var labels = Tensor.FromArray(new float[] { 1, 0, -100 }, 3);
        Assert.Equal((-Math.Log(0.75) - Math.Log(0.25)) / 2, Loss.CrossEntropy(logits, labels).Item(), 5);
        var w = Tensor.FromArray(new float[] { 3, 1 }, 2);
        Assert.Equal((-Math.Log(0.75) * 1 - Math.Log(0.25) * 3) / 4, Loss.CrossEntropy(logits, labels, -100, w).Item(), 5);
        var allIgnored = Tensor.Full(new[] { 3 }, -100f);
        Assert.Equal(0f, Loss.CrossEntropy(logits, allIgnored).Item());
    }

    [Fact]
    public void RegressionLossesByHand()
    {
        var p = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        var t = Tensor.FromArray(new float[] { 0, 0, 0, 0 }, 1, 1, 2, 2);
        var m = Tensor.FromArray(new float[] { 1, 0, 1, 0 }, 1, 1, 2, 2);
        Assert.Equal(2f, Loss.L1(p, t, m).Item(), 5);             // (1 + 3) / 2
        Assert.Equal(5f, Loss.Mse(p, t, m).Item(), 5);            // (1 + 9) / 2
        Assert.Equal(2.5f, Loss.L1(p, t).Item(), 5);
        var n = Tensor.FromArray(new float[] { 1, 0, 0, 2, 0, 0 }, 1, 3, 1, 2); // two pixels, both along +x
        Assert.Equal(0f, Loss.Normal(n, n).Item(), 5);
        Assert.Equal(2f, Loss.Normal(n, -n).Item(), 5);
        var halfMask = Tensor.FromArray(new float[] { 1, 0 }, 1, 1, 1, 2);
        var mixed = Tensor.FromArray(new float[] { 1, 0, 0, 0, 0, 5 }, 1, 3, 1, 2); // pixel 0 right, pixel 1 orthogonal
        Assert.Equal(0f, Loss.Normal(mixed, n, halfMask).Item(), 5);
        Assert.Equal(0.5f, Loss.Normal(mixed, n).Item(), 5);
    }

    [Fact]
    public void ShapeOpsShareOrCopyCorrectly()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4);
        var p = x.Permute(2, 0, 1);
        Assert.Equal(new[] { 4, 2, 3 }, p.Shape);
        Assert.False(p.IsContiguous);
        Assert.Equal(x[1, 2, 3], p[3, 1, 2]);
        var s = x.Slice(2, 1, 2);
        Assert.Equal(new[] { 2, 3, 2 }, s.Shape);
        Assert.Equal(new float[] { 1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22 }, s.ToArray());
        var c = Tensor.Concat(new[] { x.Slice(1, 0, 1), x.Slice(1, 2, 1) }, 1);
        Assert.Equal(new[] { 2, 2, 4 }, c.Shape);
        Assert.Equal(x[1, 2, 0], c[1, 1, 0]);
        var r = x.Reshape(4, -1);
        Assert.Same(x.Storage, r.Storage);
        Assert.Equal(new[] { 4, 6 }, r.Shape);
        var sum = x.Sum(new[] { 0, 2 });
        Assert.Equal(new float[] { 0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19, 8 + 9 + 10 + 11 + 20 + 21 + 22 + 23 }, sum.ToArray());
    }

    [Fact]
    public void DropoutIsSeededAndScaled()
    {
        var x = Tensor.Ones(1000);
        var a = Tensor.Dropout(x, 0.25f, true, new Rng(5)).ToArray();
        var b = Tensor.Dropout(x, 0.25f, true, new Rng(5)).ToArray();
        Assert.Equal(a, b);
        Assert.All(a, v => Assert.True(v == 0f || Math.Abs(v - 1f / 0.75f) < 1e-6));
        double dropped = a.Count(v => v == 0f) / 1000.0;
        Assert.InRange(dropped, 0.2, 0.3);
        Assert.Same(x, Tensor.Dropout(x, 0.25f, false, new Rng(5)));
    }

    [Fact]
    public void DropoutMaskOverManyChunksIsSeededAndIndependent()
    {
        int n = 5 * Tensor.DropoutChunk + 7;   // several chunks drawn in parallel and an odd tail
        var x = Tensor.Ones(n);
        var a = Tensor.Dropout(x, 0.3f, true, new Rng(11)).ToArray();
        Assert.Equal(a, Tensor.Dropout(x, 0.3f, true, new Rng(11)).ToArray());
        Assert.NotEqual(a, Tensor.Dropout(x, 0.3f, true, new Rng(12)).ToArray());
        Assert.InRange(a.Count(v => v == 0f) / (double)n, 0.29, 0.31);
        // Each chunk has its own stream: no chunk repeats the first, and the two halves of a draw are not tied.
        var first = a.AsSpan(0, Tensor.DropoutChunk).ToArray();
        for (int c = 1; c < 5; c++) Assert.NotEqual(first, a.AsSpan(c * Tensor.DropoutChunk, Tensor.DropoutChunk).ToArray());
        int same = 0;
        for (int i = 0; i + 1 < n; i += 2) if ((a[i] == 0f) == (a[i + 1] == 0f)) same++;
        Assert.InRange(same / (n / 2.0), 0.55, 0.61);   // 0.7² + 0.3² = 0.58 when independent
        Assert.All(Tensor.Dropout(x, 1f, true, new Rng(1)).ToArray(), v => Assert.Equal(0f, v));
    }
}
