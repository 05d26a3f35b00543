using MtlPrune.Training;

namespace MtlPrune.Pruning;

/// <summary>
/// One training run a method asks for through <see cref="PruningContext.Train"/>: its name (its output goes to
/// <c>phases/&lt;name&gt;/</c>), its length, how it differs from the fine-tune configuration, and its extensions. Masks
/// installed on the model are enforced throughout.
/// </summary>
public sealed record TrainingPhase(string Name, int Iterations)
{
    /// <summary>Changes to the configuration (learning rate, betas, schedule, ...), applied to a copy.</summary>
    public Action<TrainConfig>? Configure { get; init; }
    public IReadOnlyList<TrainingExtension> Extensions { get; init; } = Array.Empty<TrainingExtension>();
    /// <summary>Validate before the first step and let that model count as a candidate.</summary>
    public bool EvaluateAtStart { get; init; }
}
