using MtlPrune.Engine.Inference;

namespace MtlPrune.Deploy;

/// <summary>
/// Graph rewrites that keep the function and remove work. <see cref="FoldBatchNorm"/>: a convolution followed by batch
/// norm (the conv's only reader) becomes one convolution, W' = W·γ/√(σ² + ε) per output channel and
/// b' = (b − μ)·γ/√(σ² + ε) + β, which keeps pruned weights at 0. <see cref="FuseActivations"/>: a ReLU or ReLU6 that is the
/// only reader of a Conv, Add or Linear becomes that operation's activation. <see cref="FuseResidual"/>: an addition one
/// of whose inputs is a convolution read by nothing else becomes that convolution with a second input, added to its output
/// before the activation (a residual sum without its own pass over memory). Weights no node uses any more are dropped.
/// </summary>
public static class GraphPasses
{
    public static InferenceGraph Optimize(InferenceGraph g) => FuseResidual(FuseActivations(FoldBatchNorm(g)));

    public static InferenceGraph FuseResidual(InferenceGraph g)
    {
        var nodes = new List<GraphNode>(g.Nodes);
        var readers = g.Readers();
        for (int i = 0; i < nodes.Count; i++)
        {
            var add = nodes[i];
            if (add.Op != GraphOp.Add) continue;
            for (int side = 0; side < 2; side++)
            {
                int at = nodes.FindIndex(n => n.Output == add.Inputs[side]);
                if (at < 0) continue;
                var conv = nodes[at];
                if (conv.Op != GraphOp.Conv || conv.Inputs.Length != 1 || conv.Activation != Activation.None || readers[conv.Output] != 1) continue;
                // The fused node runs where the addition ran: by then the convolution's input and the other operand exist.
                nodes[i] = conv with { Inputs = new[] { conv.Inputs[0], add.Inputs[1 - side] }, Activation = add.Activation, Output = add.Output };
                nodes.RemoveAt(at);
                if (at < i) i--;
                break;
            }
        }
        return Rebuild(g, nodes, new Dictionary<string, GraphTensor>(g.Tensors));
    }

    public static InferenceGraph FoldBatchNorm(InferenceGraph g)
    {
        var nodes = new List<GraphNode>(g.Nodes);
        var tensors = new Dictionary<string, GraphTensor>(g.Tensors);
        var readers = g.Readers();
        var producer = nodes.ToDictionary(n => n.Output, n => n);
        for (int i = 0; i < nodes.Count; i++)
        {
            var bn = nodes[i];
            if (bn.Op != GraphOp.BatchNorm || !producer.TryGetValue(bn.Inputs[0], out var conv) || conv.Op != GraphOp.Conv
                || readers[conv.Output] != 1 || conv.Activation != Activation.None) continue;
            var w = tensors[conv.Weight!];
            int o = w.Shape[0], per = (int)(w.Numel / o);
            var mean = tensors[bn.Mean!].Data; var vr = tensors[bn.Var!].Data;
            var gamma = bn.Weight is null ? null : tensors[bn.Weight].Data; var beta = bn.Bias is null ? null : tensors[bn.Bias].Data;
            var bias0 = conv.Bias is null ? null : tensors[conv.Bias].Data;
            var nw = new float[w.Data.Length]; var nb = new float[o];
            for (int c = 0; c < o; c++)
            {
                double scale = (gamma?[c] ?? 1.0) / Math.Sqrt(vr[c] + (double)bn.Eps);
                for (int k = 0; k < per; k++) nw[c * per + k] = (float)(w.Data[c * per + k] * scale);
                nb[c] = (float)(((bias0?[c] ?? 0.0) - mean[c]) * scale + (beta?[c] ?? 0.0));
            }
            string biasName = conv.Bias ?? conv.Weight![..^"weight".Length] + "bias";
            tensors[conv.Weight!] = new GraphTensor(w.Shape, nw);
            tensors[biasName] = new GraphTensor(new[] { o }, nb);
            var folded = conv with { Bias = biasName, Output = bn.Output };
            nodes[nodes.IndexOf(conv)] = folded;
            producer[folded.Output] = folded;
            nodes.RemoveAt(i--);
        }
        return Rebuild(g, nodes, tensors);
    }

    public static InferenceGraph FuseActivations(InferenceGraph g)
    {
        var nodes = new List<GraphNode>(g.Nodes);
        var readers = g.Readers();
        var producer = nodes.ToDictionary(n => n.Output, n => n);
        for (int i = 0; i < nodes.Count; i++)
        {
            var act = nodes[i];
            if (act.Op is not (GraphOp.Relu or GraphOp.Relu6) || !producer.TryGetValue(act.Inputs[0], out var p)
                || p.Op is not (GraphOp.Conv or GraphOp.Add or GraphOp.Linear) || readers[p.Output] != 1 || p.Activation != Activation.None) continue;
            var fused = p with { Activation = act.Op == GraphOp.Relu ? Activation.Relu : Activation.Relu6, Output = act.Output };
            nodes[nodes.IndexOf(p)] = fused;
            producer[fused.Output] = fused;
            nodes.RemoveAt(i--);
        }
        return Rebuild(g, nodes, new Dictionary<string, GraphTensor>(g.Tensors));
    }

    private static InferenceGraph Rebuild(InferenceGraph g, List<GraphNode> nodes, Dictionary<string, GraphTensor> tensors)
    {
        var used = nodes.SelectMany(n => new[] { n.Weight, n.Bias, n.Mean, n.Var }).Where(x => x is not null).ToHashSet();
        foreach (var k in tensors.Keys.Where(k => !used.Contains(k)).ToList()) tensors.Remove(k);
        return new InferenceGraph { Spec = g.Spec, InputChannels = g.InputChannels, Nodes = nodes, Tensors = tensors, Outputs = g.Outputs, Metadata = new(g.Metadata) };
    }
}
