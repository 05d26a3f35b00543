using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Models;

namespace MtlPrune.Pruning;

/// <summary>
/// A weight that pruning may mask: its parameter name (<c>backbone.layer1.0.conv1.weight</c>), the layer that holds it,
/// its structural role (shared backbone or the head of one task) and its layer type.
/// </summary>
public sealed record PrunableTensor(string Name, IWeightedLayer Layer, ParamRole Role, LayerType Type)
{
    public Tensor Weight => Layer.Weight;
    public int Numel => Layer.Weight.Numel;
    /// <summary>The component it belongs to, for accounting: <c>backbone</c> or <c>head:&lt;task&gt;</c>.</summary>
    public string Component => Role.IsShared ? "backbone" : $"head:{Role.Task}";
    /// <summary>Whether task <paramref name="task"/>'s sub-model (backbone + its head, methods.md §1.1) contains it.</summary>
    public bool BelongsTo(string task) => Role.IsShared || Role.Task == task;
}

/// <summary>The kinds of weighted layer a selection can name.</summary>
public enum LayerType
{
    /// <summary>A dense convolution (groups = 1 or grouped, not depthwise) with a kernel larger than 1×1.</summary>
    Conv,
    /// <summary>A 1×1 convolution with groups = 1.</summary>
    Pointwise,
    /// <summary>A depthwise convolution (one input channel per group).</summary>
    Depthwise,
    /// <summary>A fully connected layer.</summary>
    Linear,
}
