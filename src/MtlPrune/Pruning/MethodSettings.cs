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
}

/// <summary>The pruning methods by name.</summary>
public static class PruningMethods
{
    public static readonly IReadOnlyList<string> Names = new[] { "cut", "adapmtl", "magnitude", "random" };

    /// <exception cref="ArgumentException">Unknown name or bad settings; the message names the option.</exception>
    public static IPruningMethod Create(string name, MethodSettings s) => name switch
    {
        "cut" => new Methods.Cut(new Methods.CutOptions
        {
            Fusion = Pruning.Fusion.Parse(s.Fusion), KeepRatio = s.KeepRatio, CalibrationBatches = s.CalibrationBatches, ScoreInTrainMode = s.ScoreInTrainMode,
        }),
        "adapmtl" => new Methods.AdapMtl(new Methods.AdapMtlOptions
        {
            Iterations = s.TrainIterations, ThresholdInit = s.ThresholdInit, ThresholdDecay = s.ThresholdDecay, SharedThreshold = s.SharedThreshold, AdaptiveWeights = s.AdaptiveWeights,
            FromScratch = s.FromScratch,
        }),
        "magnitude" => new Methods.MagnitudePruning(s.Scope switch
        {
            "global" => false, "layer" => true, _ => throw new ArgumentException($"--scope must be global or layer, got '{s.Scope}'."),
        }),
        "random" => new Methods.RandomPruning(),
        _ => throw new ArgumentException($"--method: unknown method '{name}' ({string.Join(", ", Names)})."),
    };
}
