using MtlPrune.Tasks;

namespace MtlPrune.Pruning;

/// <summary>Per-task metrics of one model on the test split.</summary>
public sealed record MetricSet(Dictionary<string, Dictionary<string, double>> Metrics, Dictionary<string, double> Losses);

/// <summary>ΔT against the dense model in both conventions (methods.md §5.4), in percent.</summary>
public sealed record DeltaTPair(DeltaTResult SumPerTask, DeltaTResult MeanPerTask);

/// <summary>Wall time of each phase, in seconds.</summary>
/// <remarks><c>Method</c> is the method's work besides scoring: building masks, and its own training if it trains.</remarks>
public sealed record PhaseTimes(double Load, double DenseEvaluation, double Scoring, double Method, double Finetune, double Evaluation, double Total);

/// <summary>
/// The compute a run spent, in passes over one batch: scoring passes (forward + backward, no update), the method's own
/// training steps, and fine-tuning steps; beside the dense model's own training length when the checkpoint recorded it.
/// </summary>
public sealed record ComputeSpent(int ScoringPasses, int MethodTrainingSteps, int FinetuneSteps, int? DenseTrainingSteps, bool MethodTrained, double Budget)
{
    /// <summary>Scoring passes plus training steps.</summary>
    public int Total => ScoringPasses + MethodTrainingSteps + FinetuneSteps;
    /// <summary>Total against the dense training's steps (CUT's paper claims about 5%).</summary>
    public double? ShareOfDenseTraining => DenseTrainingSteps is int d && d > 0 ? (double)Total / d : null;
}

/// <summary>Everything a pruning run reports; written as <c>report.json</c> and rendered as <c>report.md</c>.</summary>
public sealed record PruneReport
{
    public required string Method { get; init; }
    public required IReadOnlyDictionary<string, object?> MethodOptions { get; init; }
    public required IReadOnlyDictionary<string, object?> MethodDetails { get; init; }
    public required string SourceCheckpoint { get; init; }
    public required string SourceSha256 { get; init; }
    public required string Model { get; init; }
    public required IReadOnlyList<string> SourceTasks { get; init; }
    public required IReadOnlyList<string> KeptTasks { get; init; }
    public required string Selection { get; init; }
    public required ulong Seed { get; init; }
    public required string Data { get; init; }
    public required int TrainCount { get; init; }
    public required int ValCount { get; init; }
    public required int TestCount { get; init; }
    public required int[] InputShape { get; init; }
    public required Training.TrainConfig Finetune { get; init; }
    public required int FinetuneSteps { get; init; }
    public required int BestStep { get; init; }
    public required double RequestedSparsity { get; init; }
    public required SparsityReport Sparsity { get; init; }
    public required IReadOnlyDictionary<string, IReadOnlyList<MetricInfo>> MetricInfo { get; init; }
    public required MetricSet Dense { get; init; }
    public required MetricSet Pruned { get; init; }
    public required MetricSet Finetuned { get; init; }
    public required DeltaTPair PrunedDeltaT { get; init; }
    public required DeltaTPair FinetunedDeltaT { get; init; }
    public required PhaseTimes Seconds { get; init; }
    public required string OutputCheckpoint { get; init; }
    public required ComputeSpent Compute { get; init; }
    /// <summary>ΔT of the final model on the validation split (what model selection may use; <c>compare --fusion auto</c> does).</summary>
    public required DeltaTPair ValidationDeltaT { get; init; }
}
