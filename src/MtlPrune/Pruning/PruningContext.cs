using MtlPrune.Data;
using MtlPrune.Models;
using MtlPrune.Training;

namespace MtlPrune.Pruning;

/// <summary>What a pruning method works on and with.</summary>
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
    /// <summary>One-line messages.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>The fine-tune configuration (data, batch, loss weights, augmentation), the base of every training phase.</summary>
    public TrainConfig? Training { get; init; }
    /// <summary>The dense model's own training configuration, when the checkpoint recorded it (for training from scratch and rewinding).</summary>
    public TrainConfig? Source { get; init; }
    /// <summary>The source checkpoint's model spec, with all its tasks (rebuilding its exact initialisation needs every head).</summary>
    public ModelSpec? SourceSpec { get; init; }
    /// <summary>Runs a training phase on <see cref="Model"/> through the one training loop and leaves the phase's best checkpoint in the model.</summary>
    public Func<TrainingPhase, TrainResult>? TrainPhase { get; init; }
    /// <summary>Scales every iteration count of the method (a quick look: 0.1).</summary>
    public double Budget { get; init; } = 1;

    /// <summary>Runs a training phase (see <see cref="TrainPhase"/>).</summary>
    /// <exception cref="InvalidOperationException">The context has no training set up (a method that trains was given a mask-only context).</exception>
    public TrainResult Train(TrainingPhase phase) => (TrainPhase ?? throw new InvalidOperationException("This pruning context cannot train; run the method through PruneJob."))(phase);

    /// <summary><paramref name="iterations"/> scaled by <see cref="Budget"/> (at least 1).</summary>
    public int Scaled(int iterations) => Math.Max(1, (int)Math.Round(iterations * Budget));

    /// <summary>Replaces the model's weights and buffers with a fresh initialisation from <paramref name="seed"/> (the architecture's own init).</summary>
    public void Reinitialize(ulong seed) => Model.LoadStateDict(ModelFactory.Build(Model.Spec, seed).StateDict());

    /// <summary>
    /// A training phase set up like the dense model's own training (optimizer, learning rate, schedule, weight decay,
    /// length scaled by <see cref="Budget"/>): for methods that train from scratch. Without a recorded configuration it
    /// uses MtlPrune's training defaults.
    /// </summary>
    public TrainingPhase FromScratch(string name, IReadOnlyList<TrainingExtension>? extensions = null)
    {
        var src = Source ?? new TrainConfig();
        return new TrainingPhase(name, Scaled(src.Iterations))
        {
            Extensions = extensions ?? Array.Empty<TrainingExtension>(),
            Configure = c =>
            {
                c.Optimizer = src.Optimizer; c.Lr = src.Lr; c.WeightDecay = src.WeightDecay; c.Beta1 = src.Beta1; c.Momentum = src.Momentum;
                c.Schedule = src.Schedule; c.StepSize = src.StepSize; c.Gamma = src.Gamma; c.Milestones = src.Milestones; c.BatchNorm = "train";
                c.EvalEvery = Math.Max(1, Scaled(src.Iterations) / 10);
            },
        };
    }
}
