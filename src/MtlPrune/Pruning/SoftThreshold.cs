using MtlPrune.Engine;
using MtlPrune.Engine.NN;

namespace MtlPrune.Pruning;

/// <summary>
/// AdapMTL's (and STR's) soft-threshold parametrization W' = sign(W)·relu(|W| − σ(s)) with a learnable scalar s shared by
/// every layer of a component (methods.md §2.1). Built from differentiable ops, so its gradients are STR's:
/// ∂W'/∂W = 1[|W| &gt; σ(s)] (pruned weights get none) and ∂W'/∂s = −sign(W)·σ'(s)·1[|W| &gt; σ(s)].
/// </summary>
public sealed class SoftThreshold(Tensor s) : IWeightParametrization
{
    /// <summary>The component's threshold parameter s (shape [1]); σ(s) is the threshold.</summary>
    public Tensor S { get; } = s;

    public Tensor Apply(Tensor weight) => Tensor.Mul(weight.Sign(), Tensor.Sub(weight.Abs(), S.Sigmoid()).Relu());

    /// <summary>σ(s).</summary>
    public float Threshold => 1f / (1f + MathF.Exp(-S.ToArray()[0]));
}
