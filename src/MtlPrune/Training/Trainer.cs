using MtlPrune.Models;
using MtlPrune.Tasks;

namespace MtlPrune.Training;

/// <summary>
/// Dense multi-task training from a <see cref="TrainConfig"/>: opens the data, builds the model from the configured
/// preset and seed, and runs the <see cref="TrainingLoop"/> with no extensions.
/// </summary>
public sealed class Trainer(TrainConfig config)
{
    public TrainResult Run(bool resume = false, Action<TrainProgress>? progress = null, Action<int, Evaluation, DeltaTResult>? evaluated = null)
    {
        config.Validate();
        var (train, val) = config.OpenData();
        var model = ModelFactory.Build(config.BuildSpec(train.Tasks), config.Seed);
        return new TrainingLoop(model, train, val, config).Run(resume, progress, evaluated);
    }
}
