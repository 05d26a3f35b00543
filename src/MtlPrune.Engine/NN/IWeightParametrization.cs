namespace MtlPrune.Engine.NN;

/// <summary>
/// A function of a layer's stored weight that the layer uses instead of it in every forward pass (~ a parametrization
/// registered with <c>torch.nn.utils.parametrize.register_parametrization(module, "weight", ...)</c>, or the forward
/// pre-hook of <c>torch.nn.utils.prune</c>). Pruning masks (W·M), CUT's isomorphic scores (W·β) and AdapMTL's soft
/// threshold (sign(W)·relu(|W| − σ(s))) are parametrizations. Gradients flow through <see cref="Apply"/> to the stored
/// weight and to whatever tensors the parametrization holds.
/// </summary>
public interface IWeightParametrization
{
    /// <summary>The effective weight for <paramref name="weight"/>; must have its shape.</summary>
    Tensor Apply(Tensor weight);
}
