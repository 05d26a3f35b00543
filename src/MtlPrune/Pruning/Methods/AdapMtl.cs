using System.Globalization;
using System.Text.Json;
using MtlPrune.Engine;
using MtlPrune.Engine.Optim;
using MtlPrune.Models;
using MtlPrune.Training;

namespace MtlPrune.Pruning.Methods;

/// <summary>Options of <see cref="AdapMtl"/>; defaults are the reference code's, scaled to the training length where it fixes step counts.</summary>
public sealed record AdapMtlOptions
{
    /// <summary>Training steps (null: the dense model's own training length; reference: 20,000 on NYUv2).</summary>
    public int? Iterations { get; init; }
    public double Lr { get; init; } = 1e-3;
    /// <summary>Adam β1 (reference 0.5; β2 is 0.999).</summary>
    public double Beta1 { get; init; } = 0.5;
    /// <summary>L2 weight decay on weights and thresholds: what drives the thresholds up (reference 1e-4).</summary>
    public double WeightDecay { get; init; } = 1e-4;
    /// <summary>L2 weight decay on the thresholds alone, the only force that raises them against the task loss. Null:
    /// calibrated before training — with every threshold at the target's value, the task loss's gradient on each
    /// threshold is measured over a few calibration batches, and the decay is set to outweigh the largest twice
    /// (wd·|s| = 2·max |∂L/∂s|). The reference decays everything with the weights' 1e-4 and sweeps 5e-8 to 5e-6.</summary>
    public double? ThresholdDecay { get; init; }
    /// <summary>Calibration batches for the decay.</summary>
    public int CalibrationBatches { get; init; } = 5;
    /// <summary>Initial s of every threshold; null: the value that prunes 5% of the weights (nearly dense). The reference's
    /// −30.5 default and its README's −20 assume 20,000 steps at lr 1e-3 on DeepLab's N(0, 0.01) weights.</summary>
    public double? ThresholdInit { get; init; }
    /// <summary>Learning rate of the thresholds; null: enough to travel from the initial value to the target sparsity's
    /// threshold in 40% of training (Adam moves a scalar by about its lr per step, times the schedule's factor). The
    /// reference uses the weights' lr and 20,000 steps.</summary>
    public double? ThresholdLr { get; init; }
    /// <summary>Train from a fresh initialisation instead of the dense checkpoint's weights.</summary>
    public bool FromScratch { get; init; }
    /// <summary>The ablation "without adaptive thresholds": one threshold shared by every component.</summary>
    public bool SharedThreshold { get; init; }
    public bool AdaptiveWeights { get; init; } = true;
    /// <summary>Step at which adaptive weighting starts (null: a quarter of training; reference 5,000 of 20,000).</summary>
    public int? AdaptiveStart { get; init; }
    /// <summary>Sliding window of the weighting (null: a fortieth of training; reference 500 of 20,000).</summary>
    public int? Window { get; init; }
}

/// <summary>
/// AdapMTL (Xiang et al., ACM MM 2024, arXiv 2408.03913; methods.md §2): every conv and linear weight of a component (the
/// backbone, each head) is used as sign(W)·relu(|W| − σ(s_c)) with one learnable threshold s_c per component, trained
/// jointly with the weights by Adam (β 0.5/0.999) whose weight decay drives the thresholds up. After each backward pass
/// the overall sparsity (parameter-weighted over the thresholded weights) is measured; once it reaches the target, the
/// thresholds' gradients are dropped so they stop moving. Task losses are weighted adaptively
/// (<see cref="AdaptiveTaskWeights"/>). The best checkpoint by validation ΔT is chosen among those that reached the
/// target. Finally the soft threshold is made exact: W ← sign(W)·relu(|W| − σ(s_c)), with mask W ≠ 0.
/// </summary>
public sealed class AdapMtl(AdapMtlOptions options) : IPruningMethod
{
    public string Name => "adapmtl";

    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?>
    {
        ["iterations"] = options.Iterations, ["lr"] = options.Lr, ["beta1"] = options.Beta1, ["weightDecay"] = options.WeightDecay, ["thresholdDecay"] = options.ThresholdDecay,
        ["thresholdInit"] = options.ThresholdInit, ["thresholdLr"] = options.ThresholdLr, ["fromScratch"] = options.FromScratch, ["sharedThreshold"] = options.SharedThreshold,
        ["adaptiveWeights"] = options.AdaptiveWeights, ["adaptiveStart"] = options.AdaptiveStart, ["window"] = options.Window,
    };

    public PruningResult Prune(PruningContext ctx)
    {
        int iterations = ctx.Scaled(options.Iterations ?? ctx.Source?.Iterations ?? 20000);
        if (options.FromScratch) ctx.Reinitialize(ctx.Seed + 1);
        var components = ctx.Targets.Select(t => options.SharedThreshold ? "all" : t.Component).Distinct().ToList();
        var (qStart, qTarget) = Quantiles(ctx);
        double init = options.ThresholdInit ?? Logit(qStart);
        // StepLR (every fifth of training, ×0.5) scales the thresholds' rate too: size it by the multipliers' sum over the first 40%.
        int stepSize = Math.Max(1, iterations / 5);
        double reach = Enumerable.Range(0, Math.Max(1, iterations * 2 / 5)).Sum(t => Math.Pow(0.5, t / stepSize));
        double thresholdLr = options.ThresholdLr ?? Math.Max(options.Lr, (Logit(qTarget) - init) / reach);
        var s = components.ToDictionary(c => c, c => Tensor.FromArray(new[] { (float)init }, 1).RequiresGrad_());
        foreach (var v in s.Values) BufferScope.Keep(v);
        var previous = ctx.Targets.Select(t => t.Layer.Parametrization).ToList();
        foreach (var t in ctx.Targets) t.Layer.Parametrization = new SoftThreshold(s[options.SharedThreshold ? "all" : t.Component]);
        double decay = options.ThresholdDecay ?? CalibrateDecay(ctx, s, Logit(qTarget));
        foreach (var v in s.Values) v.Span[0] = (float)init;
        var control = new ThresholdControl(ctx, s, options, thresholdLr, decay);
        var extensions = new List<TrainingExtension> { control };
        AdaptiveTaskWeights? weights = null;
        if (options.AdaptiveWeights)
            extensions.Add(weights = new AdaptiveTaskWeights(options.AdaptiveStart ?? iterations / 4, Math.Max(2, options.Window ?? iterations / 40)));
        TrainResult r;
        try
        {
            r = ctx.Train(new TrainingPhase("adapmtl", iterations)
            {
                Extensions = extensions,
                Configure = c =>
                {
                    c.Optimizer = "adam"; c.Lr = options.Lr; c.Beta1 = options.Beta1; c.WeightDecay = options.WeightDecay; c.BatchNorm = "train";
                    c.Schedule = "step"; c.StepSize = stepSize; c.Gamma = 0.5;
                    c.EvalEvery = Math.Max(1, iterations / 20);
                },
            });
            // The best checkpoint's thresholds are in its metadata; the model now holds its weights.
            var meta = Checkpoint.Load(r.BestCheckpoint).Metadata;
            if (meta.TryGetValue(ThresholdControl.MetadataKey, out var json))
                foreach (var (c, v) in JsonSerializer.Deserialize<Dictionary<string, float>>(json)!) s[c].Span[0] = v;
        }
        finally
        {
            for (int i = 0; i < ctx.Targets.Count; i++) ctx.Targets[i].Layer.Parametrization = previous[i];
        }
        var masks = new MaskSet();
        foreach (var t in ctx.Targets)
        {
            float th = 1f / (1f + MathF.Exp(-s[options.SharedThreshold ? "all" : t.Component].Span[0]));
            var w = t.Weight.Span;
            var m = new float[w.Length];
            for (int i = 0; i < w.Length; i++)
            {
                float a = MathF.Abs(w[i]) - th;
                w[i] = a > 0 ? MathF.CopySign(a, w[i]) : 0;
                m[i] = a > 0 ? 1 : 0;
            }
            masks.Set(t.Name, Tensor.FromArray(m, t.Weight.Shape));
        }
        var details = new Dictionary<string, object?>
        {
            ["iterations"] = iterations, ["thresholdInit"] = init, ["thresholdLr"] = thresholdLr, ["thresholdDecay"] = decay,
            ["thresholds"] = s.ToDictionary(kv => kv.Key, kv => (double)(1f / (1f + MathF.Exp(-kv.Value.Span[0])))),
            ["frozeAtStep"] = control.FrozeAt, ["bestStep"] = r.BestStep,
            ["finalTaskWeights"] = weights?.Weights.ToDictionary(kv => kv.Key, kv => kv.Value),
        };
        return new PruningResult(masks, details) { Trained = true };
    }

    /// <summary>|W| quantiles over the targets at 5% (a nearly dense start) and at the target sparsity.</summary>
    private static (double Start, double Target) Quantiles(PruningContext ctx)
    {
        var mags = ctx.Targets.SelectMany(t => t.Weight.ToArray()).Select(MathF.Abs).ToArray();
        Array.Sort(mags);
        double At(double f) => Math.Clamp(mags[(int)Math.Min(mags.Length - 1, Math.Floor(f * mags.Length))], 1e-8, 1 - 1e-8);
        return (At(0.05), At(ctx.Sparsity));
    }

    private static double Logit(double p) => Math.Log(p / (1 - p));

    /// <summary>wd = 2·max_c mean_b |∂L/∂s_c| / |s_target|, measured with every s at s_target (weights frozen, batch norm's
    /// running statistics restored afterwards).</summary>
    private double CalibrateDecay(PruningContext ctx, Dictionary<string, Tensor> s, double target)
    {
        var model = ctx.Model;
        var parameters = model.Parameters().ToList();
        var buffers = model.NamedBuffers().Select(b => (b.Tensor, Saved: b.Tensor.ToArray())).ToList();
        var lambdas = ctx.Training?.LossWeights ?? new Dictionary<string, double>();
        var sums = s.Keys.ToDictionary(k => k, _ => 0.0);
        int n = 0;
        try
        {
            foreach (var p in parameters) p.RequiresGrad = false;
            foreach (var v in s.Values) v.Span[0] = (float)target;
            model.Train();
            foreach (var batch in ctx.CalibrationBatches(options.CalibrationBatches))
            {
                using (BufferScope.Begin())
                {
                    foreach (var v in s.Values) v.RecycleGrad();
                    var outputs = model.ForwardAll(batch.Images);
                    Tensor? total = null;
                    foreach (var t in model.Tasks)
                    {
                        var l = LossTargets.Loss(t, outputs[t.Name], batch.Targets[t.Name]).MulScalar((float)lambdas.GetValueOrDefault(t.Name, 1.0));
                        total = total is null ? l : total + l;
                    }
                    total!.Backward();
                    foreach (var (k, v) in s) sums[k] += Math.Abs(v.Grad?.Span[0] ?? 0);
                }
                n++;
            }
        }
        finally
        {
            foreach (var p in parameters) p.RequiresGrad = true;
            foreach (var v in s.Values) v.RecycleGrad();
            foreach (var (t, saved) in buffers) saved.CopyTo(t.Span);
        }
        double g = n == 0 ? 0 : sums.Values.Max() / n;
        return Math.Max(options.WeightDecay, 2 * g / Math.Max(Math.Abs(target), 1e-3));
    }

    /// <summary>
    /// The thresholds' training: their parameter group (with weight decay), the stopping rule, checkpoint eligibility
    /// (target reached), their values in checkpoints, and per-component sparsity and thresholds in the log.
    /// </summary>
    private sealed class ThresholdControl(PruningContext ctx, Dictionary<string, Tensor> s, AdapMtlOptions options, double lr, double decay) : TrainingExtension
    {
        public const string MetadataKey = "adapmtl.thresholds";
        public int? FrozeAt { get; private set; }
        private double _overall;

        public override IEnumerable<ParamGroup> ParameterGroups(MultiTaskModel model, TrainConfig config) =>
            new[] { new ParamGroup(s.Values, lr, decay) };

        private string Key(PrunableTensor t) => options.SharedThreshold ? "all" : t.Component;

        /// <summary>Per component: (zeros, weights) of sign(W)·relu(|W| − σ(s)).</summary>
        private Dictionary<string, (long Zeros, long Count)> Count()
        {
            var r = new Dictionary<string, (long, long)>();
            foreach (var t in ctx.Targets)
            {
                float th = 1f / (1f + MathF.Exp(-s[Key(t)].Span[0]));
                long z = 0;
                foreach (var v in t.Weight.Span) if (MathF.Abs(v) <= th) z++;
                var c = t.Component;
                var (z0, n0) = r.GetValueOrDefault(c);
                r[c] = (z0 + z, n0 + t.Numel);
            }
            return r;
        }

        public override void AfterBackward(TrainingState state)
        {
            var c = Count();
            _overall = (double)c.Values.Sum(x => x.Zeros) / c.Values.Sum(x => x.Count);
            if (_overall >= ctx.Sparsity)
            {
                FrozeAt ??= state.Step + 1;
                foreach (var v in s.Values) v.RecycleGrad();     // no gradient: Adam neither moves nor decays them
            }
        }

        public override bool IsCheckpointEligible(TrainingState state) => _overall >= ctx.Sparsity - 0.002;

        public override void AddToCheckpoint(Dictionary<string, string> metadata) =>
            metadata[MetadataKey] = JsonSerializer.Serialize(s.ToDictionary(kv => kv.Key, kv => kv.Value.Span[0]));

        public override void AddToLog(TrainingState state, Dictionary<string, double> values)
        {
            foreach (var (c, (z, n)) in Count()) values[$"adapmtl/sparsity/{c}"] = (double)z / n;
            values["adapmtl/sparsity/overall"] = _overall;
            foreach (var (c, v) in s) values[$"adapmtl/threshold/{c}"] = 1 / (1 + Math.Exp(-v.Span[0]));
        }
    }
}
