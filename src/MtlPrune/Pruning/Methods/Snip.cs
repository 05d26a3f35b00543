using MtlPrune.Engine;
using MtlPrune.Training;

namespace MtlPrune.Pruning.Methods;

/// <summary>Options of <see cref="Snip"/>.</summary>
public sealed record SnipOptions
{
    /// <summary><c>single</c>: one mini-batch in eval mode, as the official code; <c>joint</c>: the λ-weighted joint loss over
    /// <see cref="CalibrationBatches"/> batches in train mode, as the CUT repository applies SNIP to multi-task models.</summary>
    public string Variant { get; init; } = "joint";
    public int CalibrationBatches { get; init; } = 50;
    /// <summary>Training steps from scratch (null: the dense training's length).</summary>
    public int? Iterations { get; init; }
}

/// <summary>
/// SNIP (Lee et al., ICLR 2019; methods.md §4): pruning at initialisation by connection sensitivity. The model is freshly
/// initialised; each weight's score is |∂L/∂c| = |W ⊙ ∂L/∂W| for the loss L (one batch, or the joint multi-task loss
/// over several); the global top round((1−S)·N) are kept; the masked network is then trained from scratch like the
/// dense model. Biases are not pruned (the official code prunes them too; MtlPrune's selection never includes them).
/// </summary>
public sealed class Snip(SnipOptions options) : IPruningMethod
{
    public string Name => "snip";
    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?>
    {
        ["variant"] = options.Variant, ["calibrationBatches"] = options.CalibrationBatches, ["iterations"] = options.Iterations,
    };

    public PruningResult Prune(PruningContext ctx)
    {
        bool single = options.Variant switch { "single" => true, "joint" => false, _ => throw new ArgumentException($"--snip-variant must be single or joint, got '{options.Variant}'.") };
        int batches = single ? 1 : options.CalibrationBatches;
        ctx.Reinitialize(ctx.Seed + 101);
        var lambdas = ctx.Training?.LossWeights ?? new Dictionary<string, double>();
        var objective = new ScoringObjective("joint", b =>
        {
            var o = ctx.Model.ForwardAll(b.Images);
            Tensor? total = null;
            foreach (var t in ctx.Model.Tasks)
            {
                var l = LossTargets.Loss(t, o[t.Name], b.Targets[t.Name]).MulScalar((float)lambdas.GetValueOrDefault(t.Name, 1.0));
                total = total is null ? l : total + l;
            }
            return total!;
        }, _ => true);
        var scores = ConnectionSensitivity.Score(ctx.Model, ctx.Targets, new[] { objective }, ctx.CalibrationBatches(batches), trainMode: !single,
            done => ctx.Progress?.Invoke("scoring", done, batches));
        var result = GlobalTopK.Prune(ctx, scores[0], "snip");
        result.Masks.Apply(ctx.Model);
        var phase = ctx.FromScratch("snip");
        if (options.Iterations is int n) phase = phase with { Iterations = ctx.Scaled(n) };
        var r = ctx.Train(phase);
        var details = new Dictionary<string, object?>(result.Details) { ["variant"] = options.Variant, ["trainingSteps"] = r.Steps, ["bestStep"] = r.BestStep };
        return new PruningResult(result.Masks, details) { Trained = true, ScoringPasses = batches };
    }
}
