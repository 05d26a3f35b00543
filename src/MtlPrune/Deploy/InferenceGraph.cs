using MtlPrune.Engine.Inference;
using MtlPrune.Models;

namespace MtlPrune.Deploy;

/// <summary>The operations an inference graph holds.</summary>
public enum GraphOp { Conv, BatchNorm, Relu, Relu6, Add, MaxPool, Resize, GlobalAvgPool, Linear }

/// <summary>
/// One operation of an <see cref="InferenceGraph"/>: inputs and output are value ids (0 is the graph input); weights are
/// tensor names. Conv: Weight, Bias?, Kernel, Stride, Padding, Dilation, Groups, Activation; a second input, when
/// present, is a residual added to the output before the activation. BatchNorm (eval): Weight (γ),
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

    /// <summary>The shape of every value for a batch of <paramref name="n"/> images of <paramref name="h"/>×<paramref name="w"/>.</summary>
    /// <exception cref="ArgumentException">The graph cannot run at this size (a kernel larger than its input, a sum of unequal shapes).</exception>
    public int[][] Shapes(int n, int h, int w)
    {
        var shapes = new int[ValueCount][];
        shapes[0] = new[] { n, InputChannels, h, w };
        foreach (var node in Nodes)
        {
            var s = shapes[node.Inputs[0]] ?? throw new ArgumentException($"The graph reads value {node.Inputs[0]} before it is computed.");
            string id = node.Name ?? $"value {node.Output}";
            shapes[node.Output] = node.Op switch
            {
                GraphOp.Conv when node.Inputs.Length == 2 && !shapes[node.Inputs[1]]!.SequenceEqual(ConvShape(node, s, id)) => throw new ArgumentException(
                    $"For a {h}×{w} input, convolution {id} adds a residual of {Engine.Tensor.ShapeString(shapes[node.Inputs[1]]!)} to its output of {Engine.Tensor.ShapeString(ConvShape(node, s, id))}; the graph cannot run at this size."),
                GraphOp.Conv => ConvShape(node, s, id),
                GraphOp.MaxPool => new[] { s[0], s[1], Engine.Tensor.PoolOutputSizePublic(s[2], node.Kernel[0], node.Stride[0], node.Padding[0], node.Ceil), Engine.Tensor.PoolOutputSizePublic(s[3], node.Kernel[1], node.Stride[1], node.Padding[1], node.Ceil) },
                GraphOp.Resize => new[] { s[0], s[1], h, w },
                GraphOp.GlobalAvgPool => new[] { s[0], s[1] },
                GraphOp.Linear => new[] { s[0], Tensors[node.Weight!].Shape[0] },
                GraphOp.Add when !shapes[node.Inputs[1]]!.SequenceEqual(s) => throw new ArgumentException(
                    $"For a {h}×{w} input, node {id} adds {Engine.Tensor.ShapeString(s)} and {Engine.Tensor.ShapeString(shapes[node.Inputs[1]]!)}; the graph cannot run at this size."),
                _ => s,
            };
        }
        return shapes;
    }

    private int[] ConvShape(GraphNode c, int[] s, string id)
    {
        int ho = (s[2] + 2 * c.Padding[0] - c.Dilation[0] * (c.Kernel[0] - 1) - 1) / c.Stride[0] + 1;
        int wo = (s[3] + 2 * c.Padding[1] - c.Dilation[1] * (c.Kernel[1] - 1) - 1) / c.Stride[1] + 1;
        if (s[2] + 2 * c.Padding[0] < c.Dilation[0] * (c.Kernel[0] - 1) + 1 || s[3] + 2 * c.Padding[1] < c.Dilation[1] * (c.Kernel[1] - 1) + 1)
            throw new ArgumentException($"A {s[2]}×{s[3]} input to the {c.Kernel[0]}×{c.Kernel[1]} convolution {id} (dilation {c.Dilation[0]}) leaves no output; use a larger input.");
        return new[] { s[0], Tensors[c.Weight!].Shape[0], ho, wo };
    }

    /// <summary>Multiply-accumulates of the conv and linear layers for one h×w image: all weights, and the nonzero ones.</summary>
    public (long Macs, long NonzeroMacs) Macs(int h, int w)
    {
        var shapes = Shapes(1, h, w);
        long all = 0, nz = 0;
        foreach (var n in Nodes.Where(n => n.Op is GraphOp.Conv or GraphOp.Linear))
        {
            var o = shapes[n.Output];
            long plane = o.Length == 4 ? (long)o[2] * o[3] : 1;
            var t = Tensors[n.Weight!];
            all += t.Numel * plane; nz += t.Nonzeros * plane;
        }
        return (all, nz);
    }

    /// <summary>How many nodes read each value (outputs count as readers).</summary>
    public int[] Readers()
    {
        var r = new int[ValueCount];
        foreach (var n in Nodes) foreach (var i in n.Inputs) r[i]++;
        foreach (var (_, v) in Outputs) r[v]++;
        return r;
    }
}
