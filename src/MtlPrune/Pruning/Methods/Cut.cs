using System.Diagnostics;
using MtlPrune.Training;

namespace MtlPrune.Pruning.Methods;

/// <summary>Options of <see cref="Cut"/>; the defaults are the reference code's (methods.md §1).</summary>
public sealed record CutOptions
{
    /// <summary>Backbone fusion; default vote with τ = ⌊K/2⌋ + 1 (the reference code's τ = 2 for 2-3 tasks).</summary>
    public Fusion Fusion { get; init; } = Fusion.Majority;
    /// <summary>A fixed per-task keep ratio (the reference code's calibrated values, e.g. 0.08 for NYUv2 at 90%); null solves for the requested sparsity.</summary>
    public double? KeepRatio { get; init; }
    /// <summary>Calibration batches from the training split (reference: 50).</summary>
    public int CalibrationBatches { get; init; } = 50;
    /// <summary>Score with batch norm on batch statistics and dropout active (the reference code), or in eval mode.</summary>
    public bool ScoreInTrainMode { get; init; } = true;
    /// <summary>Prune whole output filters (<see cref="FilterPruning"/>) instead of single weights.</summary>
    public bool Filters { get; init; }
}

/// <summary>
/// CUT (Zhou et al., arXiv 2504.09803; methods.md §1): for each kept task k, score every weight of its sub-model
/// (backbone + head_k) by |∂L_k/∂β| through the isomorphic tensor β on the frozen pre-trained weights, summed over
/// calibration batches with the unweighted task loss; normalise by the task's total; keep a global top-γ_k per task;
/// fuse the tasks' backbone masks; each head keeps its own task's mask. The keep ratio is solved so that the fused model
/// has the requested sparsity, unless a fixed one is given. With <see cref="CutOptions.Filters"/> the scores are summed
/// per output filter and whole filters are pruned, with the same fusion (structured CUT, <see cref="FilterPruning"/>).
/// </summary>
public sealed class Cut(CutOptions options) : IPruningMethod
{
    public string Name => "cut";

    public CutOptions Settings => options;

    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?>
    {
        ["fusion"] = options.Fusion.ToString(), ["keepRatio"] = options.KeepRatio, ["calibrationBatches"] = options.CalibrationBatches,
        ["scoreMode"] = options.ScoreInTrainMode ? "train" : "eval", ["granularity"] = options.Filters ? "filter" : "weight",
    };

    public PruningResult Prune(PruningContext ctx)
    {
        if (options.CalibrationBatches < 1) throw new ArgumentException($"--calib-batches must be positive, got {options.CalibrationBatches}.");
        var tasks = PerTaskMasks.Tasks(ctx);
        options.Fusion.Threshold(tasks.Count);      // reject an impossible vote threshold before any work
        var byName = ctx.Model.Tasks.ToDictionary(t => t.Name);
        var objectives = tasks.Select(n => new ScoringObjective(n,
            b => LossTargets.Loss(byName[n], ctx.Model.ForwardAll(b.Images, new[] { n })[n], b.Targets[n]), p => p.BelongsTo(n))).ToList();
        var sw = Stopwatch.StartNew();
        var raw = ConnectionSensitivity.Score(ctx.Model, ctx.Targets, objectives, ctx.CalibrationBatches(options.CalibrationBatches),
            options.ScoreInTrainMode, done => ctx.Progress?.Invoke("scoring", done, options.CalibrationBatches));
        var scoringTime = sw.Elapsed;
        Normalise(raw);
        sw.Restart();
        if (options.Filters) FilterPruning.SumPerFilter(raw, ctx.Targets, Deploy.ModelLowering.OutputLayers(ctx.Model));
        var (masks, details) = PerTaskMasks.Build(ctx, tasks, raw, options.Fusion, options.KeepRatio);
        if (options.Filters)
        {
            masks = FilterPruning.RoundToFilters(masks, ctx.Targets);
            details["prunedFilters"] = FilterPruning.ChannelMasks(ctx.Model, masks, ctx.Targets);
        }
        details["calibrationBatches"] = options.CalibrationBatches;
        details["scoreMode"] = options.ScoreInTrainMode ? "train" : "eval";
        details["scoringSeconds"] = scoringTime.TotalSeconds;
        details["maskSeconds"] = sw.Elapsed.TotalSeconds;
        return new PruningResult(masks, details) { ScoringPasses = options.CalibrationBatches * tasks.Count };
    }

    /// <summary>v_k = G_k / Σ G_k over each task's sub-model (a positive constant per task: it does not change the ranking).</summary>
    public static void Normalise(float[]?[][] scores)
    {
        foreach (var perTarget in scores)
        {
            double sum = perTarget.Where(s => s is not null).Sum(s => s!.Sum(v => (double)v));
            if (sum > 0) foreach (var s in perTarget) if (s is not null) for (int e = 0; e < s.Length; e++) s[e] = (float)(s[e] / sum);
        }
    }
}
