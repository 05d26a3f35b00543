using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Engine.Optim;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using MtlPrune.Training;

namespace MtlPrune.Tests.Pruning;

public class AdapMtlTests
{
    /// <summary>The forward pass uses sign(W)·relu(|W| − σ(s)) (methods.md §2.1).</summary>
    [Fact]
    public void SoftThresholdForwardIsSignTimesShrunkMagnitude()
    {
        var rng = new Rng(1);
        var conv = new Conv2d(2, 3, 3, padding: 1, bias: false, rng: rng);
        var s = Tensor.FromArray(new[] { -2.5f }, 1);
        conv.Parametrization = new SoftThreshold(s);
        float th = 1f / (1f + MathF.Exp(2.5f));
        var w = conv.Weight.ToArray();
        var expected = w.Select(v => MathF.Sign(v) * MathF.Max(MathF.Abs(v) - th, 0)).ToArray();
        Assert.Equal(expected, conv.EffectiveWeight().ToArray());
        Assert.Contains(expected, v => v == 0);
        Assert.Contains(expected, v => v != 0);
    }

    /// <summary>∂L/∂s from autograd matches central finite differences, and pruned weights get no gradient (STR).</summary>
    [Fact]
    public void ThresholdGradientMatchesFiniteDifferencesAndPrunedWeightsGetNone()
    {
        var rng = new Rng(2);
        var conv = new Conv2d(3, 4, 3, padding: 1, rng: rng);
        var s = Tensor.FromArray(new[] { -2.2f }, 1).RequiresGrad_();
        conv.Parametrization = new SoftThreshold(s);
        var x = Tensor.Normal(new[] { 2, 3, 5, 5 }, rng);
        var r = Tensor.Normal(new[] { 2, 4, 5, 5 }, rng);
        double Loss() { using var _ = Autograd.NoGrad(); var y = conv.Forward(x).ToArray(); var rv = r.ToArray(); double l = 0; for (int i = 0; i < y.Length; i++) l += y[i] * rv[i]; return l; }
        Tensor.Mul(conv.Forward(x), r).Sum().Backward();
        double analytic = s.Grad!.ToArray()[0];
        const float eps = 1e-3f;
        float s0 = s.Span[0];
        s.Span[0] = s0 + eps; double up = Loss();
        s.Span[0] = s0 - eps; double down = Loss();
        s.Span[0] = s0;
        double numeric = (up - down) / (2 * eps);
        Assert.True(Math.Abs(analytic - numeric) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"∂L/∂s: autograd {analytic}, finite differences {numeric}");
        float th = 1f / (1f + MathF.Exp(-s0));
        var w = conv.Weight.ToArray(); var g = conv.Weight.Grad!.ToArray();
        for (int i = 0; i < w.Length; i++) if (MathF.Abs(w[i]) <= th) Assert.Equal(0f, g[i]);
    }

    /// <summary>The adaptive weights are 1 before the start, renormalised to sum to T every step, for 3 and 5 tasks.</summary>
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void AdaptiveWeightsSumToTheNumberOfTasks(int tasks)
    {
        var ext = new AdaptiveTaskWeights(start: 4, window: 3);
        var state = new TrainingState(PruningFixture.TinyModel(), new Sgd(new[] { Tensor.Zeros(1).RequiresGrad_() }, 0.1), new TrainConfig());
        var rng = new Rng(3);
        for (int step = 0; step < 20; step++)
        {
            var losses = Enumerable.Range(0, tasks).ToDictionary(k => $"t{k}", k => 1.0 + (k + 1) * rng.NextDouble());
            var weights = losses.Keys.ToDictionary(k => k, _ => 2.0);       // λ = 2 for every task
            ext.WeighLosses(state.WithStep(step), losses, weights);
            Assert.Equal(tasks, ext.Weights.Values.Sum(), 9);
            if (step < 4) Assert.All(ext.Weights.Values, w => Assert.Equal(1.0, w, 12));
            foreach (var (t, w) in weights) Assert.Equal(2.0 * ext.Weights[t], w, 12);
        }
        Assert.Contains(ext.Weights.Values, w => Math.Abs(w - 1) > 1e-3);   // the weights did adapt
    }

    /// <summary>
    /// When the target is already met, the stopping rule drops the thresholds' gradients from the first step, so they
    /// never move; the result is hardened into masks that reproduce the soft-thresholded function exactly.
    /// </summary>
    [Fact]
    public void StoppingRuleFreezesThresholdsAndHardeningKeepsTheFunction()
    {
        using var dir = new TempDir();
        var cfg = new TrainConfig { Size = 16, TrainCount = 8, ValCount = 4, Iterations = 3, Batch = 2, EvalEvery = 3, Tasks = new[] { "seg", "depth" } };
        var (train, val) = cfg.OpenData();
        var model = PruningFixture.TinyModel().SelectTasks("seg", "depth");
        var targets = new PruningSelection().Select(model);
        var ctx = new PruningContext
        {
            Model = model, Targets = targets, Sparsity = 0.05, CalibrationBatches = n => PruningFixture.Batches(n).Select(b => new Data.Batch(b.Images,
                b.Targets.Where(kv => kv.Key != "normal").ToDictionary(kv => kv.Key, kv => kv.Value), b.Count)),
            Training = cfg,
            TrainPhase = phase =>
            {
                var c = cfg.Clone(); c.Iterations = phase.Iterations; c.Output = dir.File(phase.Name); phase.Configure?.Invoke(c); c.Iterations = 3; c.EvalEvery = 3;
                var r = new TrainingLoop(model, train, val, c, phase.Extensions).Run();
                model.LoadStateDict(Checkpoint.Load(r.BestCheckpoint).Model.StateDict());
                return r;
            },
        };
        // s starts where σ(s) already prunes 5%+ of the weights: the stopping rule must hold it still.
        var result = new AdapMtl(new AdapMtlOptions { Iterations = 3, ThresholdInit = -2.0, ThresholdLr = 0.5, ThresholdDecay = 1 }).Prune(ctx);
        Assert.Equal(1, result.Details["frozeAtStep"]);
        var th = (Dictionary<string, double>)result.Details["thresholds"]!;
        Assert.All(th.Values, v => Assert.Equal(1 / (1 + Math.Exp(2.0)), v, 6));
        // Hardened weights are exactly sign(W)·relu(|W| − σ(s)) of the trained weights (the phase's best checkpoint), so the
        // function is unchanged; the masks are exactly their zeros.
        var trained = Checkpoint.Load(dir.File("adapmtl/best.safetensors")).Model.StateDict();
        float thr = (float)(1 / (1 + Math.Exp(2.0)));
        foreach (var t in targets)
        {
            var before = trained[t.Name].ToArray();
            var w = t.Weight.ToArray(); var m = result.Masks.Masks[t.Name].ToArray();
            for (int i = 0; i < w.Length; i++)
            {
                Assert.Equal(MathF.Sign(before[i]) * MathF.Max(MathF.Abs(before[i]) - thr, 0), w[i]);
                Assert.Equal(m[i] == 0, w[i] == 0);
            }
        }
        Assert.True(result.Trained);
    }
}
