using MtlPrune.Engine.Optim;
using MtlPrune.Models;

namespace MtlPrune.Training;

/// <summary>What an extension sees of a running <see cref="TrainingLoop"/>.</summary>
public sealed class TrainingState(MultiTaskModel model, Optimizer optimizer, TrainConfig config)
{
    public MultiTaskModel Model { get; } = model;
    public Optimizer Optimizer { get; } = optimizer;
    public TrainConfig Config { get; } = config;
    /// <summary>Steps completed so far (0 before the first).</summary>
    public int Step { get; internal set; }

    /// <summary>This state with <see cref="Step"/> set (for driving extensions outside the loop, e.g. in tests).</summary>
    public TrainingState WithStep(int step) { Step = step; return this; }
}

/// <summary>
/// The small extension points through which pruning methods change the one training loop (~ the callbacks of Intel
/// Neural Compressor or open_lth): extra parameter groups, per-task loss weights, work after the backward pass and after
/// the optimizer step, and additions to logs and checkpoints. A reparameterised forward is installed on the model's
/// layers (<see cref="Engine.NN.IWeightedLayer.Parametrization"/>), typically in <see cref="OnStart"/>. Every method
/// does nothing by default.
/// </summary>
public abstract class TrainingExtension
{
    /// <summary>Parameter groups to optimise besides the model's own parameters (e.g. AdapMTL's thresholds).</summary>
    public virtual IEnumerable<ParamGroup> ParameterGroups(MultiTaskModel model, TrainConfig config) => Array.Empty<ParamGroup>();

    /// <summary>Before the first step (after resuming, if resuming).</summary>
    public virtual void OnStart(TrainingState state) { }

    /// <summary>
    /// Adjusts the per-task loss weights of this step, given the step's unweighted task losses. <paramref name="weights"/>
    /// starts as the configured λ.
    /// </summary>
    public virtual void WeighLosses(TrainingState state, IReadOnlyDictionary<string, double> losses, Dictionary<string, double> weights) { }

    /// <summary>After the backward pass, before the optimizer step (e.g. to drop a gradient so a tensor is not updated).</summary>
    public virtual void AfterBackward(TrainingState state) { }

    /// <summary>After the optimizer step (e.g. to re-apply masks, or prune between rounds).</summary>
    public virtual void AfterStep(TrainingState state) { }

    /// <summary>Extra values for this step's log row (<c>metrics.csv</c>, <c>metrics.jsonl</c>).</summary>
    public virtual void AddToLog(TrainingState state, Dictionary<string, double> values) { }

    /// <summary>
    /// Whether the model as it stands may become the best checkpoint (e.g. AdapMTL's only once its sparsity has reached
    /// the target). All extensions must agree. When no validation was eligible, the last checkpoint is the best.
    /// </summary>
    public virtual bool IsCheckpointEligible(TrainingState state) => true;

    /// <summary>Extra metadata for every checkpoint the loop writes.</summary>
    public virtual void AddToCheckpoint(Dictionary<string, string> metadata) { }

    /// <summary>After the last step.</summary>
    public virtual void OnEnd(TrainingState state) { }
}
