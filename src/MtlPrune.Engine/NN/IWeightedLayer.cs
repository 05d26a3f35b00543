namespace MtlPrune.Engine.NN;

/// <summary>
/// A layer with one weight tensor that pruning acts on (<see cref="Conv2d"/> and <see cref="Linear"/>): the stored
/// weight, an optional parametrization of it, and a forward hook that sees each call's input and output.
/// </summary>
public interface IWeightedLayer
{
    /// <summary>The stored (trainable) weight (~ <c>weight</c>, or <c>weight_orig</c> once PyTorch's pruning is applied).</summary>
    Tensor Weight { get; }

    /// <summary>The bias, if the layer has one.</summary>
    Tensor? Bias { get; }

    /// <summary>When set, the forward pass uses <c>Parametrization.Apply(Weight)</c> instead of <see cref="Weight"/>.</summary>
    IWeightParametrization? Parametrization { get; set; }

    /// <summary>Called after every forward with (layer, input, output) (~ <c>register_forward_hook</c>); used to count MACs.</summary>
    Action<IWeightedLayer, Tensor, Tensor>? ForwardHook { get; set; }

    /// <summary>The weight the forward pass uses: the parametrized weight when a parametrization is set.</summary>
    Tensor EffectiveWeight();
}
