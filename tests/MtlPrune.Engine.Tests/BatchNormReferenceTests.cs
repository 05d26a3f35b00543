using MtlPrune.Engine;

namespace MtlPrune.Engine.Tests;

/// <summary>The vectorised, channel-parallel batch norm against a double-precision implementation of its formulas.</summary>
public class BatchNormReferenceTests
{
    [Theory]
    [InlineData(true, 4, 17, 9, 11)]
    [InlineData(false, 4, 17, 9, 11)]
    [InlineData(true, 8, 64, 28, 28)]   // large enough to run channels in parallel
    public void MatchesDoubleReference(bool training, int n, int c, int h, int w)
    {
        var rng = new Rng(9);
        var x = (Tensor.Normal(new[] { n, c, h, w }, rng) * 3f + 5f).RequiresGrad_();   // offset mean tests the shifted moments
        var gamma = Tensor.Uniform(new[] { c }, rng, 0.5f, 2f).RequiresGrad_();
        var beta = Tensor.Normal(new[] { c }, rng).RequiresGrad_();
        var rm = Tensor.Normal(new[] { c }, rng); var rv = Tensor.Uniform(new[] { c }, rng, 0.5f, 3f);
        var rm0 = rm.ToArray(); var rv0 = rv.ToArray();
        var y = Tensor.BatchNorm(x, gamma, beta, rm, rv, training, 0.1f, 1e-5f);
        var gy = Tensor.Normal(y.Shape, rng);
        y.Backward(gy);

        int s = h * w, m = n * s;
        var xs = x.ToArray(); var gs = gy.ToArray(); var g = gamma.ToArray(); var b = beta.ToArray();
        var ry = new double[xs.Length]; var rgx = new double[xs.Length]; var rgg = new double[c]; var rgb = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < s; j++) mean += xs[(i * c + ch) * s + j];
            mean /= m;
            for (int i = 0; i < n; i++) for (int j = 0; j < s; j++) { double d = xs[(i * c + ch) * s + j] - mean; var += d * d; }
            var /= m;
            if (!training) { mean = rm0[ch]; var = rv0[ch]; }
            double inv = 1 / Math.Sqrt(var + 1e-5), sg = 0, sgx = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++)
                {
                    int k = (i * c + ch) * s + j; double xh = (xs[k] - mean) * inv;
                    ry[k] = g[ch] * xh + b[ch]; sg += gs[k]; sgx += gs[k] * xh;
                }
            rgg[ch] = sgx; rgb[ch] = sg;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++)
                {
                    int k = (i * c + ch) * s + j; double xh = (xs[k] - mean) * inv;
                    rgx[k] = training ? g[ch] * inv * (gs[k] - sg / m - xh * sgx / m) : g[ch] * inv * gs[k];
                }
            if (training)
            {
                Assert.Equal(0.9 * rm0[ch] + 0.1 * mean, rm[ch], 4);
                Assert.Equal(0.9 * rv0[ch] + 0.1 * var * m / (m - 1), rv[ch], 3);
            }
        }
        TensorAssert.Relative(ry, y.ToArray(), "output");
        TensorAssert.Relative(rgx, x.Grad!.ToArray(), "input gradient");
        TensorAssert.Relative(rgg, gamma.Grad!.ToArray(), "weight gradient");
        TensorAssert.Relative(rgb, beta.Grad!.ToArray(), "bias gradient");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FusedReluEqualsComposedOps(bool training)
    {
        var rng = new Rng(12);
        var x1 = Tensor.Normal(new[] { 3, 5, 6, 7 }, rng).RequiresGrad_(); var x2 = x1.CloneData().RequiresGrad_();
        var g1 = Tensor.Uniform(new[] { 5 }, rng, 0.5f, 1.5f).RequiresGrad_(); var g2 = g1.CloneData().RequiresGrad_();
        var b1 = Tensor.Normal(new[] { 5 }, rng).RequiresGrad_(); var b2 = b1.CloneData().RequiresGrad_();
        var rm = Tensor.Normal(new[] { 5 }, rng); var rv = Tensor.Uniform(new[] { 5 }, rng, 0.5f, 2f);
        var fused = Tensor.BatchNormRelu(x1, g1, b1, rm.CloneData(), rv.CloneData(), training);
        var composed = Tensor.BatchNorm(x2, g2, b2, rm.CloneData(), rv.CloneData(), training).Relu();
        TensorAssert.Close(composed, fused, 1e-6, 1e-6);
        Assert.Contains(0f, fused.ToArray());                          // some outputs are clamped, so the mask matters
        var gy = Tensor.Normal(fused.Shape, rng);
        fused.Backward(gy); composed.Backward(gy);
        TensorAssert.Close(x2.Grad!, x1.Grad!, 1e-5, 1e-5);
        TensorAssert.Close(g2.Grad!, g1.Grad!, 1e-5, 1e-5);
        TensorAssert.Close(b2.Grad!, b1.Grad!, 1e-5, 1e-5);
    }
}
