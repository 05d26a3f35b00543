using MtlPrune.Engine;
using MtlPrune.Engine.NN;

namespace MtlPrune.Pruning;

/// <summary>
/// CUT's isomorphic parametrization W' = W ⊙ β (methods.md §1.2): β has the weight's shape, starts at 1 and is the
/// only tensor that receives a gradient, so after a backward pass β.grad = W ⊙ ∂L/∂W' — the connection sensitivity
/// of every weight at its pre-trained value. Wraps any parametrization already on the layer (e.g. a mask).
/// </summary>
public sealed class IsomorphicWeight(Tensor beta, IWeightParametrization? inner) : IWeightParametrization
{
    public Tensor Beta { get; } = beta;
    public IWeightParametrization? Inner { get; } = inner;

    public Tensor Apply(Tensor weight) => Tensor.Mul(Inner?.Apply(weight) ?? weight, Beta);
}
