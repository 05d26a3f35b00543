namespace MtlPrune.Pruning;

/// <summary>
/// The knobs of every method in one record, as the command line and <c>compare</c> set them. Each method reads the ones
/// that concern it; null means the method's own default (the reference code's).
/// </summary>
public sealed record MethodSettings
{
    /// <summary>CUT, DiSparse: backbone fusion (<c>or</c>, <c>and</c>, <c>vote[:τ]</c>).</summary>
    public string Fusion { get; init; } = "vote";
    /// <summary>CUT, DiSparse: a fixed per-task keep ratio instead of solving for the sparsity.</summary>
    public double? KeepRatio { get; init; }
    /// <summary>CUT, SNIP, DiSparse: calibration batches.</summary>
    public int CalibrationBatches { get; init; } = 50;
    /// <summary>CUT: score in train mode (batch statistics, dropout).</summary>
    public bool ScoreInTrainMode { get; init; } = true;
    /// <summary>CUT: <c>filter</c> prunes whole output filters; null (the default) prunes single weights.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Granularity { get; init; }
    /// <summary>Methods that train (AdapMTL, LTH, SNIP and DiSparse from scratch, DiSparse dynamic): steps; null = the dense training's length.</summary>
    public int? TrainIterations { get; init; }
    /// <summary>AdapMTL: initial threshold parameter s (null: chosen from the weights and the training length).</summary>
    public double? ThresholdInit { get; init; }
    /// <summary>AdapMTL: weight decay of the thresholds alone (null: the weights' decay, as in the reference).</summary>
    public double? ThresholdDecay { get; init; }
    /// <summary>AdapMTL: one threshold for every component (the paper's ablation).</summary>
    public bool SharedThreshold { get; init; }
    /// <summary>AdapMTL: adaptive task weighting.</summary>
    public bool AdaptiveWeights { get; init; } = true;
    /// <summary>AdapMTL: start from a fresh initialisation instead of the dense weights.</summary>
    public bool FromScratch { get; init; }
    /// <summary>Magnitude: <c>global</c> (one ranking) or <c>layer</c> (the same sparsity in every layer).</summary>
    public string Scope { get; init; } = "global";
    /// <summary>SNIP: <c>joint</c> (the multi-task loss over the calibration batches) or <c>single</c> (one batch, as the paper).</summary>
    public string SnipVariant { get; init; } = "joint";
    /// <summary>IMP: fraction of the remaining weights removed per round.</summary>
    public double ImpRate { get; init; } = 0.5;
    /// <summary>LTH: <c>init</c> or a step to rewind the survivors to.</summary>
    public string Rewind { get; init; } = "init";
}

/// <summary>The pruning methods by name.</summary>
public static class PruningMethods
{
    public static readonly IReadOnlyList<string> Names = new[]
        { "cut", "adapmtl", "disparse-static", "disparse-pt", "disparse-dynamic", "snip", "lth", "imp", "magnitude", "random" };

    /// <exception cref="ArgumentException">Unknown name or bad settings; the message names the option.</exception>
    public static IPruningMethod Create(string name, MethodSettings s) => name switch
    {
        "cut" => new Methods.Cut(new Methods.CutOptions
        {
            Fusion = Pruning.Fusion.Parse(s.Fusion), KeepRatio = s.KeepRatio, CalibrationBatches = s.CalibrationBatches, ScoreInTrainMode = s.ScoreInTrainMode,
            Filters = Filters(s),
        }),
        "adapmtl" => new Methods.AdapMtl(new Methods.AdapMtlOptions
        {
            Iterations = s.TrainIterations, ThresholdInit = s.ThresholdInit, ThresholdDecay = s.ThresholdDecay, SharedThreshold = s.SharedThreshold, AdaptiveWeights = s.AdaptiveWeights,
            FromScratch = s.FromScratch,
        }),
        "magnitude" => new Methods.MagnitudePruning(s.Scope switch
        {
            "global" => false, "layer" => true, _ => throw new ArgumentException($"--scope must be global or layer, got '{s.Scope}'."),
        }, Filters(s)),
        "random" => new Methods.RandomPruning(),
        "snip" => new Methods.Snip(new Methods.SnipOptions { Variant = s.SnipVariant, CalibrationBatches = s.CalibrationBatches, Iterations = s.TrainIterations }),
        "imp" => new Methods.Imp(new Methods.ImpOptions { Rate = s.ImpRate }),
        "lth" => new Methods.LotteryTicket(new Methods.LotteryTicketOptions { Rewind = s.Rewind, Iterations = s.TrainIterations }),
        "disparse-static" or "disparse-pt" or "disparse-dynamic" => new Methods.DiSparse(new Methods.DiSparseOptions
        {
            Variant = name["disparse-".Length..], Fusion = s.Fusion == "vote" ? Pruning.Fusion.Or : Pruning.Fusion.Parse(s.Fusion), KeepRatio = s.KeepRatio,
            CalibrationBatches = s.CalibrationBatches, Iterations = s.TrainIterations,
        }),
        _ => throw new ArgumentException($"--method: unknown method '{name}' ({string.Join(", ", Names)})."),
    };

    private static bool Filters(MethodSettings s) => s.Granularity switch
    {
        null or "weight" => false, "filter" => true, var g => throw new ArgumentException($"--granularity must be weight or filter, got '{g}'."),
    };
}
