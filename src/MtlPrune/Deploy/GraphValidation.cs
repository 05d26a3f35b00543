namespace MtlPrune.Deploy;

/// <summary>Structural checks of an inference graph read from outside: every reference, shape and attribute is valid.</summary>
public static class GraphValidation
{
    /// <exception cref="Exception">The one <paramref name="bad"/> makes, naming the first fault.</exception>
    public static void Check(InferenceGraph g, Func<string, Exception> bad)
    {
        if (g.InputChannels < 1 || g.InputChannels > 1 << 16) throw bad($"input channels {g.InputChannels}.");
        if (g.Nodes.Count > 1 << 20) throw bad($"{g.Nodes.Count} nodes.");
        var channels = new Dictionary<int, int> { [0] = g.InputChannels };       // value → channels (-1: flat [n, c] with c features)
        var flat = new HashSet<int>();
        GraphTensor T(string? name, string node) => name is not null && g.Tensors.TryGetValue(name, out var t) ? t : throw bad($"node {node} refers to a missing tensor '{name}'.");
        for (int i = 0; i < g.Nodes.Count; i++)
        {
            var n = g.Nodes[i];
            if (n is null || n.Inputs is null || n.Kernel is null || n.Stride is null || n.Padding is null || n.Dilation is null) throw bad($"node #{i} is incomplete.");
            string id = n.Name ?? $"#{i}";
            if (n.Kernel.Length != 2 || n.Stride.Length != 2 || n.Padding.Length != 2 || n.Dilation.Length != 2) throw bad($"node {id} has attributes of the wrong length.");
            if (n.Kernel.Any(v => v < 1 || v > 64) || n.Stride.Any(v => v < 1 || v > 64) || n.Dilation.Any(v => v < 1 || v > 256) || n.Padding.Any(v => v < 0 || v > 4096))
                throw bad($"node {id} has out-of-range kernel, stride, padding or dilation.");
            if (!Enum.IsDefined(n.Op) || !Enum.IsDefined(n.Activation)) throw bad($"node {id} has an unknown operation or activation.");
            int want = n.Op == GraphOp.Add ? 2 : 1;
            if (n.Inputs.Length != want && !(n.Op == GraphOp.Conv && n.Inputs.Length == 2)) throw bad($"node {id} ({n.Op}) has {n.Inputs.Length} inputs, needs {want}.");
            foreach (var v in n.Inputs) if (!channels.ContainsKey(v)) throw bad($"node {id} reads value {v} before it is computed.");
            if (n.Output <= 0 || channels.ContainsKey(n.Output)) throw bad($"node {id} writes value {n.Output}, which is not new.");
            int c = channels[n.Inputs[0]];
            bool inFlat = flat.Contains(n.Inputs[0]);
            if (inFlat && n.Op is not (GraphOp.Linear or GraphOp.Relu or GraphOp.Relu6 or GraphOp.Add)) throw bad($"node {id} ({n.Op}) needs an image input, gets features.");
            switch (n.Op)
            {
                case GraphOp.Conv:
                    {
                        var w = T(n.Weight, id);
                        if (n.Groups < 1 || w.Shape.Length != 4 || w.Shape[0] < 1 || w.Shape[0] % n.Groups != 0 || w.Shape[1] * n.Groups != c || w.Shape[2] != n.Kernel[0] || w.Shape[3] != n.Kernel[1])
                            throw bad($"conv {id}: weight {string.Join("x", w.Shape)} does not fit {c} input channels, groups {n.Groups}, kernel {n.Kernel[0]}x{n.Kernel[1]}.");
                        if (n.Bias is not null && T(n.Bias, id).Numel != w.Shape[0]) throw bad($"conv {id}: bias does not match {w.Shape[0]} channels.");
                        if (n.Inputs.Length == 2 && (channels[n.Inputs[1]] != w.Shape[0] || flat.Contains(n.Inputs[1]))) throw bad($"conv {id}: its residual input does not have {w.Shape[0]} channels.");
                        c = w.Shape[0];
                        break;
                    }
                case GraphOp.BatchNorm:
                    foreach (var name in new[] { n.Mean, n.Var }.Concat(new[] { n.Weight, n.Bias }.Where(x => x is not null)))
                        if (T(name, id).Numel != c) throw bad($"batch norm {id}: a parameter does not have {c} values.");
                    if (!(n.Eps >= 0)) throw bad($"batch norm {id}: eps {n.Eps}.");
                    break;
                case GraphOp.Add:
                    if (channels[n.Inputs[1]] != c || flat.Contains(n.Inputs[1]) != inFlat) throw bad($"add {id}: inputs differ in channels.");
                    break;
                case GraphOp.GlobalAvgPool:
                    flat.Add(n.Output);
                    break;
                case GraphOp.Linear:
                    {
                        var w = T(n.Weight, id);
                        if (!inFlat || w.Shape.Length != 2 || w.Shape[1] != c) throw bad($"linear {id}: weight {string.Join("x", w.Shape)} does not fit {c} features.");
                        if (n.Bias is not null && T(n.Bias, id).Numel != w.Shape[0]) throw bad($"linear {id}: bias does not match.");
                        c = w.Shape[0];
                        flat.Add(n.Output);
                        break;
                    }
                case GraphOp.MaxPool:
                    if (n.Kernel[0] != n.Kernel[1] || n.Stride[0] != n.Stride[1] || n.Padding[0] != n.Padding[1]) throw bad($"max pool {id}: only square windows are supported.");
                    if (n.Padding[0] * 2 > n.Kernel[0] || n.Padding[1] * 2 > n.Kernel[1]) throw bad($"max pool {id}: padding larger than half the kernel.");
                    break;
            }
            if (inFlat && n.Op is GraphOp.Relu or GraphOp.Relu6 or GraphOp.Add) flat.Add(n.Output);
            channels[n.Output] = c;
        }
        if (g.Outputs.Count == 0) throw bad("the graph has no outputs.");
        foreach (var (task, v) in g.Outputs)
            if (string.IsNullOrEmpty(task) || !channels.ContainsKey(v)) throw bad($"output '{task}' refers to value {v}, which is never computed.");
    }
}
