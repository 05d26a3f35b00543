using MtlPrune.Data;
using MtlPrune.Models;

namespace MtlPrune.Pruning;

/// <summary>What a pruning method works on.</summary>
public sealed class PruningContext
{
    /// <summary>The model restricted to the kept tasks.</summary>
    public required MultiTaskModel Model { get; init; }
    /// <summary>The weights the method may prune (the selection's matches).</summary>
    public required IReadOnlyList<PrunableTensor> Targets { get; init; }
    /// <summary>Requested sparsity over <see cref="Targets"/>, in (0, 1).</summary>
    public required double Sparsity { get; init; }
    /// <summary>
    /// The first <c>n</c> calibration batches from the training split, augmented as in training; the same seed gives
    /// the same batches.
    /// </summary>
    public required Func<int, IEnumerable<Batch>> CalibrationBatches { get; init; }
    public ulong Seed { get; init; }
    /// <summary>Progress of long phases: (phase, done, total).</summary>
    public Action<string, int, int>? Progress { get; init; }
}
