using MtlPrune.Engine.Inference;
using MtlPrune.Models;

namespace MtlPrune.Deploy;

/// <summary>The operations an inference graph holds.</summary>
public enum GraphOp { Conv, BatchNorm, Relu, Relu6, Add, MaxPool, Resize, GlobalAvgPool, Linear }

/// <summary>
/// One operation of an <see cref="InferenceGraph"/>: inputs and output are value ids (0 is the graph input); weights are
/// tensor names. Conv: Weight, Bias?, Kernel, Stride, Padding, Dilation, Groups, Activation. BatchNorm (eval): Weight (γ),
/// Bias (β), Mean, Var, Eps. MaxPool: Kernel, Stride, Padding, Ceil. Resize: bilinear (align_corners = false) to the graph
/// input's size. Linear: Weight, Bias?. Add and Linear may carry an Activation too.
/// </summary>
public sealed record GraphNode
{
    public required GraphOp Op { get; init; }
    public required int[] Inputs { get; init; }
    public required int Output { get; init; }
    public string? Name { get; init; }
    public string? Weight { get; init; }
    public string? Bias { get; init; }
    public string? Mean { get; init; }
    public string? Var { get; init; }
    public float Eps { get; init; }
    public int[] Kernel { get; init; } = { 1, 1 };
    public int[] Stride { get; init; } = { 1, 1 };
    public int[] Padding { get; init; } = { 0, 0 };
    public int[] Dilation { get; init; } = { 1, 1 };
    public int Groups { get; init; } = 1;
    public bool Ceil { get; init; }
    public Activation Activation { get; init; }
}

/// <summary>A weight of the graph: its shape and float32 values (row-major).</summary>
public sealed record GraphTensor(int[] Shape, float[] Data)
{
    public long Numel => Data.LongLength;
    public long Nonzeros => Data.LongCount(v => v != 0);
}

/// <summary>
/// A multi-task model as an inference graph: a list of operations in execution order over numbered values, its weights,
/// and one output value per task. Produced by <see cref="ModelLowering"/>, transformed by <see cref="GraphPasses"/>,
/// stored in <c>.mtlp</c> files, run by <see cref="CompactModel"/> and exported to ONNX.
/// </summary>
public sealed class InferenceGraph
{
    public required ModelSpec Spec { get; init; }
    public required int InputChannels { get; init; }
    public required List<GraphNode> Nodes { get; init; }
    public required Dictionary<string, GraphTensor> Tensors { get; init; }
    /// <summary>Task → output value, in the model's task order.</summary>
    public required List<KeyValuePair<string, int>> Outputs { get; init; }
    /// <summary>Free-form facts carried into files (source checkpoint, pruning method, input normalisation).</summary>
    public Dictionary<string, string> Metadata { get; init; } = new();

    public int ValueCount => Nodes.Count == 0 ? 1 : Nodes.Max(n => n.Output) + 1;

    /// <summary>How many nodes read each value (outputs count as readers).</summary>
    public int[] Readers()
    {
        var r = new int[ValueCount];
        foreach (var n in Nodes) foreach (var i in n.Inputs) r[i]++;
        foreach (var (_, v) in Outputs) r[v]++;
        return r;
    }
}
