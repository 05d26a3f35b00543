using MtlPrune.Training;

namespace MtlPrune.Pruning;

/// <summary>
/// Keeps pruned weights at exactly 0 through training. The masks' parametrization already zeroes their gradients, and
/// with a zero weight and a zero gradient neither L2 weight decay nor Adam's moments move them; this extension also zeroes
/// their optimizer state when training starts (a model pruned mid-training may carry momentum) and re-applies the masks
/// after every step, as Distiller does, so no optimizer can revive them.
/// </summary>
public sealed class MaskEnforcement : TrainingExtension
{
    public override void OnStart(TrainingState state) => MaskSet.Enforce(state.Model, state.Optimizer);
    public override void AfterStep(TrainingState state) => MaskSet.Enforce(state.Model, state.Optimizer);
}
