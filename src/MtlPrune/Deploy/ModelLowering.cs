using MtlPrune.Engine;
using MtlPrune.Engine.Inference;
using MtlPrune.Engine.NN;
using MtlPrune.Models;

namespace MtlPrune.Deploy;

/// <summary>
/// Turns a <see cref="MultiTaskModel"/> into an <see cref="InferenceGraph"/> of its eval-mode forward pass, module by module
/// (ResNet and MobileNetV2 backbones; light, ASPP and classification heads). Weights are copied with their parameter
/// names and the values the forward pass uses (a parametrised weight, masked or soft-thresholded, enters as its effective
/// value), so the graph computes what the model computes in eval mode. Dropout is the
/// identity at inference and is left out.
/// </summary>
public static class ModelLowering
{
    public static InferenceGraph Lower(MultiTaskModel model)
    {
        var b = new Builder(model);
        int features = model.Backbone switch
        {
            ResNetBackbone r => ResNet(b, r, 0),
            MobileNetV2Backbone m => MobileNet(b, m, 0),
            var other => throw new NotSupportedException($"No inference lowering for backbone {other.GetType().Name}."),
        };
        var outputs = new List<KeyValuePair<string, int>>();
        foreach (var t in model.Tasks)
        {
            var head = model.Head(t.Name);
            int y = head switch
            {
                LightHead l => b.Conv(l.Conv2, b.Relu(b.Bn(l.Bn1, b.Conv(l.Conv1, features)))),
                AsppHead a => a.Branches.Select(br => b.Conv(br.C, b.Relu(b.Conv(br.B, b.Relu(b.Conv(br.A, features)))))).Aggregate((s, v) => b.Add(s, v)),
                ClassificationHead c => b.Linear(c.Fc, b.Node(GraphOp.GlobalAvgPool, new[] { features })),
                var other => throw new NotSupportedException($"No inference lowering for head {other.GetType().Name}."),
            };
            if (head.UpsampleToInput && head is not ClassificationHead) y = b.Node(GraphOp.Resize, new[] { y });
            outputs.Add(new(t.Name, y));
        }
        int inputChannels = model.Backbone switch { ResNetBackbone r => r.Conv1.InChannels, _ => model.Spec.InChannels };
        return new InferenceGraph { Spec = model.Spec, InputChannels = inputChannels, Nodes = b.Nodes, Tensors = b.Tensors, Outputs = outputs };
    }

    /// <summary>
    /// Each convolution whose output feeds only a batch norm, by module name (e.g. backbone.layer1.0.conv1 →
    /// backbone.layer1.0.bn1), read from the model's structure (its lowered graph), not from names.
    /// </summary>
    public static IReadOnlyDictionary<string, string> BatchNormAfterConv(MultiTaskModel model)
    {
        var g = Lower(model);
        var readers = g.Readers();
        var producer = g.Nodes.ToDictionary(n => n.Output);
        var pairs = new Dictionary<string, string>();
        foreach (var bn in g.Nodes.Where(n => n.Op == GraphOp.BatchNorm))
            if (producer.TryGetValue(bn.Inputs[0], out var conv) && conv.Op == GraphOp.Conv && readers[conv.Output] == 1) pairs[conv.Name!] = bn.Name!;
        return pairs;
    }

    /// <summary>
    /// The conv and linear layers whose output channels are a task's output channels (the last layer of each head, every
    /// ASPP branch's last conv): removing one of their filters would remove an output channel.
    /// </summary>
    public static IReadOnlySet<string> OutputLayers(MultiTaskModel model)
    {
        var g = Lower(model);
        var producer = g.Nodes.ToDictionary(n => n.Output);
        var layers = new HashSet<string>();
        var stack = new Stack<int>(g.Outputs.Select(o => o.Value));
        while (stack.Count > 0)
        {
            if (!producer.TryGetValue(stack.Pop(), out var n)) continue;
            if (n.Op is GraphOp.Conv or GraphOp.Linear) layers.Add(n.Name!);
            else if (n.Op is GraphOp.Add or GraphOp.Resize or GraphOp.Relu or GraphOp.Relu6) foreach (var i in n.Inputs) stack.Push(i);
        }
        return layers;
    }

    private static int ResNet(Builder b, ResNetBackbone r, int x)
    {
        x = b.Relu(b.Bn(r.Bn1, b.Conv(r.Conv1, x)));
        if (r.DeepLabStem) x = b.Node(GraphOp.MaxPool, new[] { x }, new GraphNode { Op = GraphOp.MaxPool, Inputs = Array.Empty<int>(), Output = 0, Kernel = new[] { 3, 3 }, Stride = new[] { 2, 2 }, Padding = new[] { 1, 1 }, Ceil = true });
        foreach (var block in r.Blocks)
        {
            int y = b.Bn(block.Bn2, b.Conv(block.Conv2, b.Relu(b.Bn(block.Bn1, b.Conv(block.Conv1, x)))));
            int shortcut = block.Downsample is { } ds ? b.Bn(ds.Bn, b.Conv(ds.Conv, x)) : x;
            x = b.Relu(b.Add(y, shortcut));
        }
        return x;
    }

    private static int MobileNet(Builder b, MobileNetV2Backbone m, int x)
    {
        foreach (var f in m.Features)
        {
            if (f is InvertedResidual ir) { int y = Chain(b, ir.Layers, x); x = ir.Residual ? b.Add(x, y) : y; }
            else if (f is Sequential s) x = Chain(b, Enumerable.Range(0, s.Count).Select(i => s[i]), x);
            else throw new NotSupportedException($"No inference lowering for MobileNetV2 part {f.GetType().Name}.");
        }
        return x;
    }

    private static int Chain(Builder b, IEnumerable<Module> layers, int x)
    {
        foreach (var l in layers)
            x = l switch
            {
                Conv2d c => b.Conv(c, x),
                BatchNorm2d n => b.Bn(n, x),
                ReLU6 => b.Node(GraphOp.Relu6, new[] { x }),
                ReLU => b.Relu(x),
                var other => throw new NotSupportedException($"No inference lowering for layer {other.GetType().Name}."),
            };
        return x;
    }

    /// <summary>Appends nodes and copies weights under their parameter names.</summary>
    private sealed class Builder(MultiTaskModel model)
    {
        private readonly Dictionary<Tensor, string> _names = model.StateDict().ToDictionary(kv => kv.Value, kv => kv.Key, new IdentityComparer());
        private int _next = 1;
        public readonly List<GraphNode> Nodes = new();
        public readonly Dictionary<string, GraphTensor> Tensors = new();

        private string Keep(Tensor t, Tensor? value = null)
        {
            var name = _names[t];
            Tensors.TryAdd(name, new GraphTensor((int[])t.Shape.Clone(), (value ?? t).ToArray()));
            return name;
        }

        public int Node(GraphOp op, int[] inputs, GraphNode? attributes = null)
        {
            var n = (attributes ?? new GraphNode { Op = op, Inputs = inputs, Output = 0 }) with { Op = op, Inputs = inputs, Output = _next++ };
            Nodes.Add(n);
            return n.Output;
        }

        public int Conv(Conv2d c, int x) => Node(GraphOp.Conv, new[] { x }, new GraphNode
        {
            Op = GraphOp.Conv, Inputs = Array.Empty<int>(), Output = 0, Name = _names[c.Weight][..^".weight".Length],
            Weight = Keep(c.Weight, EffectiveWeight(c)), Bias = c.Bias is null ? null : Keep(c.Bias),
            Kernel = new[] { c.KernelSize.H, c.KernelSize.W }, Stride = new[] { c.Stride.H, c.Stride.W }, Padding = new[] { c.Padding.H, c.Padding.W },
            Dilation = new[] { c.Dilation.H, c.Dilation.W }, Groups = c.Groups,
        });

        public int Bn(BatchNorm2d n, int x) => Node(GraphOp.BatchNorm, new[] { x }, new GraphNode
        {
            Op = GraphOp.BatchNorm, Inputs = Array.Empty<int>(), Output = 0, Name = _names[n.RunningMean][..^".running_mean".Length],
            Weight = n.Weight is null ? null : Keep(n.Weight), Bias = n.Bias is null ? null : Keep(n.Bias), Mean = Keep(n.RunningMean), Var = Keep(n.RunningVar), Eps = n.Eps,
        });

        public int Relu(int x) => Node(GraphOp.Relu, new[] { x });
        public int Add(int a, int c) => Node(GraphOp.Add, new[] { a, c });

        private sealed class IdentityComparer : IEqualityComparer<Tensor>
        {
            public bool Equals(Tensor? a, Tensor? b) => ReferenceEquals(a, b);
            public int GetHashCode(Tensor t) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(t);
        }

        public int Linear(Engine.NN.Linear l, int x) => Node(GraphOp.Linear, new[] { x }, new GraphNode
        {
            Op = GraphOp.Linear, Inputs = Array.Empty<int>(), Output = 0, Name = _names[l.Weight][..^".weight".Length],
            Weight = Keep(l.Weight, EffectiveWeight(l)), Bias = l.Bias is null ? null : Keep(l.Bias),
        });

        /// <summary>The weight the forward pass uses (masked or soft-thresholded), computed without recording gradients.</summary>
        private static Tensor EffectiveWeight(IWeightedLayer layer)
        {
            using var _ = Autograd.NoGrad();
            return layer.EffectiveWeight();
        }
    }
}
