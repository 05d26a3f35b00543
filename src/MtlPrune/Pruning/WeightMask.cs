using MtlPrune.Engine;
using MtlPrune.Engine.NN;

namespace MtlPrune.Pruning;

/// <summary>
/// The pruning parametrization W' = W ⊙ M with a binary mask M (~ <c>torch.nn.utils.prune</c>'s
/// <c>weight = weight_orig * weight_mask</c>): the gradient reaching W is masked, so pruned weights get none. Pruned
/// entries of the stored W are kept at exactly 0 (<see cref="MaskSet.Apply"/> zeroes them and
/// <see cref="MaskEnforcement"/> re-applies the mask after every optimizer step), so when no gradient is recorded the
/// product equals W and is skipped.
/// </summary>
public sealed class WeightMask : IWeightParametrization
{
    /// <summary>1 where the weight is kept, 0 where it is pruned; the weight's shape.</summary>
    public Tensor Mask { get; }

    public WeightMask(Tensor mask)
    {
        Mask = mask;
        BufferScope.Keep(mask);
    }

    public Tensor Apply(Tensor weight) =>
        Autograd.IsGradEnabled && weight.RequiresGrad ? Tensor.Mul(weight, Mask) : weight;
}
