namespace MtlPrune.Pruning;

/// <summary>
/// A pruning method (~ <c>BasePruningMethod.compute_mask</c> of PyTorch, or one algorithm per file as in LibMTL): from a
/// model, the weights it may prune and a target sparsity, it computes keep-masks. Applying them, fine-tuning and
/// reporting are shared (<see cref="PruneJob"/>). Methods live in <c>Pruning/Methods</c>, one file each, named after
/// their paper.
/// </summary>
public interface IPruningMethod
{
    /// <summary>The name used on the command line and in reports (<c>cut</c>, <c>random</c>, <c>magnitude</c>).</summary>
    string Name { get; }

    /// <summary>Every option of the method with its value, for checkpoint metadata and reports.</summary>
    IReadOnlyDictionary<string, object?> Options { get; }

    /// <summary>Masks for <see cref="PruningContext.Targets"/>; the model's weights and state are left unchanged.</summary>
    PruningResult ComputeMasks(PruningContext context);
}

/// <summary>The masks a method computed, and what it wants reported (keep ratio used, per-task counts, times).</summary>
public sealed record PruningResult(MaskSet Masks, IReadOnlyDictionary<string, object?> Details);
