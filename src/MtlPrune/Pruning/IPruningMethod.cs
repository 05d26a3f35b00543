namespace MtlPrune.Pruning;

/// <summary>
/// A pruning method (~ <c>BasePruningMethod.compute_mask</c> of PyTorch, or one algorithm per file as in LibMTL). It
/// prunes <see cref="PruningContext.Model"/> to the requested sparsity and returns the final masks. One-shot methods
/// (CUT, magnitude, random, DiSparse pre-trained) only compute masks, and <see cref="PruneJob"/> then fine-tunes.
/// Methods that train (AdapMTL, IMP, LTH, and those that train from scratch) run their training through
/// <see cref="PruningContext.Train"/>, the one training loop, and say so in <see cref="PruningResult.Trained"/>.
/// Applying masks, evaluating and reporting are shared. Methods live in <c>Pruning/Methods</c>, one file each, named
/// after their paper.
/// </summary>
public interface IPruningMethod
{
    /// <summary>The name used on the command line and in reports (<c>cut</c>, <c>adapmtl</c>, <c>snip</c>, ...).</summary>
    string Name { get; }

    /// <summary>Every option of the method with its value, for checkpoint metadata and reports.</summary>
    IReadOnlyDictionary<string, object?> Options { get; }

    /// <summary>Prunes the context's model; one-shot methods leave its weights unchanged and only return masks.</summary>
    PruningResult Prune(PruningContext context);
}

/// <summary>The masks a method computed, what it wants reported, and the compute it spent.</summary>
public sealed record PruningResult(MaskSet Masks, IReadOnlyDictionary<string, object?> Details)
{
    /// <summary>True when the method's own training is the model's training, so no separate fine-tune follows.</summary>
    public bool Trained { get; init; }
    /// <summary>Training steps the method ran itself (forward + backward + update of one batch each).</summary>
    public int TrainingSteps { get; init; }
    /// <summary>Forward + backward passes spent scoring weights (calibration batches × objectives).</summary>
    public int ScoringPasses { get; init; }
}
