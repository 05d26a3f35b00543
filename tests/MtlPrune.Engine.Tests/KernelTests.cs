using MtlPrune.Engine;
using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Tests;

/// <summary>Fast kernels against simple references, on sizes that reach their vector paths and their tails.</summary>
public class KernelTests
{
    [Fact]
    public void VectorExpIsAccurateOverTheFloatRange()
    {
        var x = Enumerable.Range(0, 4001).Select(i => -87.3f + i * (176f / 4000)).Concat(new[] { -200f, 200f, 0f, 1e-8f }).ToArray();
        var y = new float[x.Length];
        VectorMath.Exp(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double e = Math.Exp(Math.Clamp(x[i], (double)-87.3f, (double)88.7f));
            Assert.True(Math.Abs(y[i] - e) <= 3e-7 * e + 1e-38, $"exp({x[i]}) = {y[i]}, expected {e}");
        }
    }

    [Theory]
    [InlineData(3, 5, 37)]     // vector path (16 pixels at a time) and scalar tail
    [InlineData(2, 13, 64)]
    public void CrossEntropyMatchesLogSoftmaxReference(int n, int c, int s)
    {
        var rng = new Rng(8);
        var x = Tensor.Normal(new[] { n, c, s }, rng) * 4f;
        var labels = Tensor.FromArray(Enumerable.Range(0, n * s).Select(i => (float)(i % 7 == 0 ? 255 : rng.NextInt(c))).ToArray(), n, s);
        var w = Tensor.Uniform(new[] { c }, rng, 0.2f, 2f);
        double num = 0, den = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++)
            {
                int y = (int)labels[i, j];
                if (y == 255) continue;
                double m = Enumerable.Range(0, c).Max(ch => (double)x[i, ch, j]);
                double lse = m + Math.Log(Enumerable.Range(0, c).Sum(ch => Math.Exp(x[i, ch, j] - m)));
                num += w[y] * (lse - x[i, y, j]); den += w[y];
            }
        Assert.Equal(num / den, Loss.CrossEntropy(x, labels, 255, w).Item(), 4);
        var xg = x.CloneData().RequiresGrad_();
        GradCheck.Check(t => Loss.CrossEntropy(t[0], labels, 255, w), new[] { xg }, maxPerInput: 80);
    }

    [Fact]
    public void SoftmaxVectorPathMatchesDefinition()
    {
        var x = Tensor.Normal(new[] { 2, 4, 40 }, new Rng(2)) * 5f;
        var p = Tensor.Softmax(x);
        for (int j = 0; j < 40; j += 7)
        {
            double z = Enumerable.Range(0, 4).Sum(ch => Math.Exp(x[1, ch, j]));
            Assert.Equal(Math.Exp(x[1, 2, j]) / z, p[1, 2, j], 5);
        }
    }

    [Theory]
    [InlineData(8, 100_000)]        // small images: one chunk per core
    [InlineData(8, 4_000_000)]      // large images: one image per chunk
    [InlineData(5, 300_000)]
    [InlineData(1, 10_000_000)]
    [InlineData(3, 10)]
    public void ConvChunksCoverTheBatchOnce(int n, long bytesPerImage)
    {
        var chunks = ConvKernels.Chunks(n, bytesPerImage);
        Assert.Equal(Enumerable.Range(0, n), chunks.SelectMany(c => Enumerable.Range(c.Start, c.Count)));
        Assert.All(chunks, c => Assert.True(c.Count >= 1));
        Assert.True(chunks.Max(c => c.Count) - chunks.Min(c => c.Count) <= 1);
        if (n > 1) Assert.True(chunks.Count >= Math.Min(n, Gemm.MaxThreads));
    }
}
