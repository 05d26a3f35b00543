using MtlPrune.Engine;
using MtlPrune.Engine.Optim;

namespace MtlPrune.Engine.Tests;

/// <summary>First steps of each optimizer against values computed by hand from PyTorch's update rules.</summary>
public class OptimizerTests
{
    private static Tensor Param(float v) => Tensor.FromArray(new[] { v }, 1).RequiresGrad_();
    private static void SetGrad(Tensor p, float g) => p.Grad = Tensor.FromArray(new[] { g }, 1);

    [Fact]
    public void SgdPlainAndWeightDecay()
    {
        var p = Param(1f); var q = Param(1f);
        var opt = new Sgd(new[] { new ParamGroup(new[] { p }, 0.1), new ParamGroup(new[] { q }, 0.1, weightDecay: 0.1) });
        SetGrad(p, 0.5f); SetGrad(q, 0.5f);
        opt.Step();
        Assert.Equal(0.95f, p.Item(), 6);   // 1 − 0.1·0.5
        Assert.Equal(0.94f, q.Item(), 6);   // 1 − 0.1·(0.5 + 0.1·1)
    }

    [Fact]
    public void SgdMomentumAndNesterov()
    {
        var p = Param(1f);
        var opt = new Sgd(new[] { p }, lr: 0.1, momentum: 0.9);
        SetGrad(p, 0.5f); opt.Step();
        Assert.Equal(0.95f, p.Item(), 6);   // buf = g
        SetGrad(p, 0.5f); opt.Step();
        Assert.Equal(0.855f, p.Item(), 6);  // buf = 0.9·0.5 + 0.5 = 0.95
        var n = Param(1f);
        var nes = new Sgd(new[] { n }, lr: 0.1, momentum: 0.9, nesterov: true);
        SetGrad(n, 0.5f); nes.Step();
        Assert.Equal(0.905f, n.Item(), 6);  // g + 0.9·buf = 0.95
        Assert.Throws<ArgumentException>(() => new Sgd(new[] { Param(0) }, 0.1, momentum: 0, nesterov: true));
    }

    /// <summary>
    /// SGD on a tensor large enough to be vectorised and split across cores: three steps equal, to the bit, the scalar
    /// definition (g = grad + wd·p; b = g at step 1, else μ·b + (1 − dampening)·g; Nesterov g + μ·b; p −= lr·g).
    /// </summary>
    [Theory]
    [InlineData(0.9, 0.0, false, 0.01)]
    [InlineData(0.9, 0.0, true, 0.0)]
    [InlineData(0.5, 0.25, false, 0.001)]
    [InlineData(0.0, 0.0, false, 0.0)]
    public void SgdOnALargeTensorMatchesTheDefinitionBitForBit(double mu, double dampening, bool nesterov, double wd)
    {
        int n = 3 * Kernels.ParallelRanges.MinPerCore + 13;
        var rng = new Rng(4);
        var w = Tensor.Normal(new[] { n }, rng).RequiresGrad_();
        var p = w.ToArray(); var b = new float[n];
        var opt = new Sgd(new[] { w }, lr: 0.05, momentum: mu, weightDecay: wd, dampening: dampening, nesterov: nesterov);
        float lr = 0.05f, fwd = (float)wd, fmu = (float)mu, damp = (float)(1 - dampening);
        for (int step = 1; step <= 3; step++)
        {
            var grad = Tensor.Normal(new[] { n }, rng);
            w.Grad = grad;
            opt.Step();
            for (int i = 0; i < n; i++)
            {
                float g = grad.Storage[i] + fwd * p[i];
                if (mu != 0)
                {
                    b[i] = step == 1 ? g : fmu * b[i] + damp * g;
                    g = nesterov ? g + fmu * b[i] : b[i];
                }
                p[i] -= lr * g;
            }
            Assert.Equal(p, w.ToArray());
        }
    }

    [Fact]
    public void AdamFirstStepsAndL2Decay()
    {
        var p = Param(1f);
        var opt = new Adam(new[] { p }, lr: 0.1);
        SetGrad(p, 0.5f); opt.Step();
        Assert.Equal(0.9f, p.Item(), 5);    // m̂ = g, v̂ = g²: step = lr·sign(g)
        SetGrad(p, 0.5f); opt.Step();
        Assert.Equal(0.8f, p.Item(), 5);
        Assert.Equal(0.095f, opt.StateOf(p)![0][0], 6);       // m2 = 0.9·0.05 + 0.1·0.5
        Assert.Equal(0.00049975f, opt.StateOf(p)![1][0], 8);  // v2 = 0.999·0.00025 + 0.001·0.25
        var q = Param(1f);
        var wd = new Adam(new[] { q }, lr: 0.1, weightDecay: 0.1);
        SetGrad(q, 0.5f); wd.Step();
        Assert.Equal(0.06f, wd.StateOf(q)![0][0], 6);         // L2 term enters the moment: 0.1·(0.5 + 0.1)
        var b = Param(1f);
        var betas = new Adam(new[] { b }, lr: 0.1, beta1: 0.5, beta2: 0.999);
        SetGrad(b, 2f); betas.Step();
        Assert.Equal(1f, betas.StateOf(b)![0][0], 6);          // (1 − 0.5)·2
    }

    [Fact]
    public void AdamWDecouplesDecay()
    {
        var p = Param(1f);
        var opt = new AdamW(new[] { p }, lr: 0.1, weightDecay: 0.1);
        SetGrad(p, 0.5f); opt.Step();
        Assert.Equal(0.89f, p.Item(), 5);    // 1·(1 − 0.01) − 0.1
        Assert.Equal(0.05f, opt.StateOf(p)![0][0], 6); // decay does not enter the moment
    }

    [Fact]
    public void ParametersWithoutGradientAreSkipped()
    {
        var p = Param(1f); var q = Param(1f);
        var opt = new Adam(new[] { p, q }, lr: 0.1);
        SetGrad(p, 1f); opt.Step();
        Assert.Equal(1f, q.Item());
        Assert.Equal(0, opt.StepCount(q));
        Assert.Null(opt.StateOf(q));
        Assert.Equal(1, opt.StepCount(p));
        opt.ZeroGrad();
        Assert.Null(p.Grad);
        Assert.Throws<ArgumentException>(() => new Sgd(new[] { new ParamGroup(new[] { p }, 0.1), new ParamGroup(new[] { p }, 0.2) }));
    }

    [Fact]
    public void SchedulersFollowClosedForms()
    {
        double[] Run(Func<Optimizer, LrScheduler> make, int steps)
        {
            var opt = new Sgd(new[] { Param(0) }, lr: 1.0);
            var s = make(opt);
            var r = new double[steps];
            for (int i = 0; i < steps; i++) { s.Step(); r[i] = opt.Groups[0].Lr; }
            return r;
        }
        Assert.Equal(new[] { 1, 0.5, 0.5, 0.25, 0.25 }, Run(o => new StepLr(o, 2, 0.5), 5), new ToleranceComparer());
        Assert.Equal(new[] { 1, 0.1, 0.1, 0.01 }, Run(o => new MultiStepLr(o, new[] { 4, 2 }, 0.1), 4), new ToleranceComparer());
        Assert.Equal(new[] { 0.8535533905932737, 0.5, 0.14644660940672627, 0 }, Run(o => new CosineLr(o, 4), 4), new ToleranceComparer());
    }

    private sealed class ToleranceComparer : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-12;
        public int GetHashCode(double d) => 0;
    }

    [Fact]
    public void TrainingReducesLoss()
    {
        var rng = new Rng(4);
        var w = Tensor.Normal(new[] { 3, 2 }, rng).RequiresGrad_();
        var x = Tensor.Normal(new[] { 16, 3 }, rng);
        var target = Tensor.MatMul(x, Tensor.FromArray(new float[] { 1, -1, 2, 0, 0.5f, 3 }, 3, 2));
        var opt = new Sgd(new[] { w }, lr: 0.05, momentum: 0.9);
        float first = 0, last = 0;
        for (int i = 0; i < 100; i++)
        {
            opt.ZeroGrad();
            var loss = Loss.Mse(Tensor.MatMul(x, w), target);
            if (i == 0) first = loss.Item();
            last = loss.Item();
            loss.Backward(); opt.Step();
        }
        Assert.True(last < first * 1e-3, $"loss {first} -> {last}");
    }
}
