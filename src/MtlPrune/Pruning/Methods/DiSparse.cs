using MtlPrune.Engine.NN;
using MtlPrune.Training;

namespace MtlPrune.Pruning.Methods;

/// <summary>Options of <see cref="DiSparse"/>.</summary>
public sealed record DiSparseOptions
{
    /// <summary><c>static</c> (at initialisation, then trained from scratch), <c>pt</c> (pre-trained weights, then fine-tuned) or <c>dynamic</c> (sparse training).</summary>
    public string Variant { get; init; } = "pt";
    /// <summary>Backbone fusion: the paper's unanimous decision, OR (prune only what every task would prune).</summary>
    public Fusion Fusion { get; init; } = Fusion.Or;
    /// <summary>A fixed per-task keep ratio (the reference's calibrated values) instead of solving for the sparsity.</summary>
    public double? KeepRatio { get; init; }
    public int CalibrationBatches { get; init; } = 50;
    /// <summary>Training steps of the static and dynamic variants (null: the dense training's length).</summary>
    public int? Iterations { get; init; }
    /// <summary>Dynamic: steps between mask updates (reference 50).</summary>
    public int UpdateEvery { get; init; } = 50;
    /// <summary>Dynamic: fraction of training during which masks are updated (reference 15,000 of 20,000).</summary>
    public double UpdateUntil { get; init; } = 0.75;
    /// <summary>Dynamic: prune rate at the first update, cosine-decayed to 0 (reference 0.5).</summary>
    public double PruneRate { get; init; } = 0.5;
    /// <summary>Dynamic: ERK power scale (reference 0.9).</summary>
    public double ErkPower { get; init; } = 0.9;
}

/// <summary>
/// DiSparse (Sun et al., CVPR 2022; methods.md §3): per task, a score over its sub-model (backbone + its head) and a
/// global top-k; the backbone keeps what any task keeps (OR: only when every task agrees to prune a weight is it pruned);
/// each head keeps its own task's mask; the keep ratio is solved for the exact sparsity. Variants:
/// <list type="bullet">
/// <item><c>pt</c>: scores |W| of the pre-trained weights (the NYUv2/Cityscapes code), then the usual fine-tune;</item>
/// <item><c>static</c>: SNIP scores Σ|∂L_k/∂m| of a copy re-initialised with Xavier-normal weights; the masks are applied to the
/// network's own fresh initialisation, which is then trained from scratch;</item>
/// <item><c>dynamic</c>: sparse training from an ERK-random mask (<see cref="DiSparseDynamic"/>).</item>
/// </list>
/// </summary>
public sealed class DiSparse(DiSparseOptions options) : IPruningMethod
{
    public string Name => "disparse-" + options.Variant;
    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?>
    {
        ["variant"] = options.Variant, ["fusion"] = options.Fusion.ToString(), ["keepRatio"] = options.KeepRatio, ["calibrationBatches"] = options.CalibrationBatches,
        ["iterations"] = options.Iterations, ["updateEvery"] = options.UpdateEvery, ["updateUntil"] = options.UpdateUntil, ["pruneRate"] = options.PruneRate,
        ["erkPower"] = options.ErkPower,
    };

    public PruningResult Prune(PruningContext ctx)
    {
        var tasks = PerTaskMasks.Tasks(ctx);
        options.Fusion.Threshold(tasks.Count);
        switch (options.Variant)
        {
            case "pt":
            {
                var scores = tasks.Select(t => (IReadOnlyList<float[]?>)ctx.Targets.Select(p => p.BelongsTo(t) ? p.Weight.ToArray().Select(MathF.Abs).ToArray() : null).ToList()).ToList();
                var (masks, details) = PerTaskMasks.Build(ctx, tasks, scores, options.Fusion, options.KeepRatio);
                details["scores"] = "|W| of the pre-trained weights";
                return new PruningResult(masks, details);
            }
            case "static":
            {
                ctx.Reinitialize(ctx.Seed + 211);
                var own = ctx.Targets.Select(t => t.Weight.ToArray()).ToList();
                var rng = new Engine.Rng(ctx.Seed + 307);
                foreach (var t in ctx.Targets) Init.XavierNormal(t.Weight, rng);
                var byName = ctx.Model.Tasks.ToDictionary(t => t.Name);
                var objectives = tasks.Select(n => new ScoringObjective(n,
                    b => LossTargets.Loss(byName[n], ctx.Model.ForwardAll(b.Images, new[] { n })[n], b.Targets[n]), p => p.BelongsTo(n))).ToList();
                var raw = ConnectionSensitivity.Score(ctx.Model, ctx.Targets, objectives, ctx.CalibrationBatches(options.CalibrationBatches), true,
                    done => ctx.Progress?.Invoke("scoring", done, options.CalibrationBatches));
                for (int i = 0; i < ctx.Targets.Count; i++) own[i].CopyTo(ctx.Targets[i].Weight.Span);
                Cut.Normalise(raw);
                var (masks, details) = PerTaskMasks.Build(ctx, tasks, raw, options.Fusion, options.KeepRatio);
                masks.Apply(ctx.Model);
                var phase = ctx.FromScratch("disparse-static");
                if (options.Iterations is int n) phase = phase with { Iterations = ctx.Scaled(n) };
                var r = ctx.Train(phase);
                details["scores"] = "SNIP on a Xavier-normal copy"; details["trainingSteps"] = r.Steps; details["bestStep"] = r.BestStep;
                return new PruningResult(masks, details) { Trained = true, ScoringPasses = options.CalibrationBatches * tasks.Count };
            }
            case "dynamic":
                return new DiSparseDynamic(options).Prune(ctx, tasks);
            default:
                throw new ArgumentException($"DiSparse variant must be static, pt or dynamic, got '{options.Variant}'.");
        }
    }
}
