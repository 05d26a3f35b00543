namespace MtlPrune.Deploy;

/// <summary>What <see cref="ChannelCompaction.Compact(InferenceGraph, out CompactionReport)"/> removed.</summary>
public sealed record CompactionReport(int ChannelsBefore, int ChannelsAfter, long WeightsBefore, long WeightsAfter);

/// <summary>
/// Structured compaction of an inference graph: channels that are identically zero for every input are removed, with
/// the matching input channels of every reader, so the result is a smaller dense graph computing the same outputs.
/// <para>
/// A value's zero channels are proved forwards: a convolution's output channel is zero when its bias is 0 and all its
/// nonzero weights read zero input channels (an all-zero filter is the common case); batch norm keeps a zero channel
/// zero only when its shift is 0; ReLU, ReLU6, pooling and resizing keep zeros; a sum is zero where all its inputs are.
/// Values that must share a channel layout (an addition's inputs and output, a depthwise convolution's input and output,
/// an activation's or pooling's input and output) form one group, and a group's channel goes only when it is zero in
/// every member: a channel of a residual stream goes only when every branch writing into it agrees. The graph input,
/// task outputs and the layout around non-depthwise grouped convolutions are never changed; a group keeps at least one channel.
/// </para>
/// </summary>
public static class ChannelCompaction
{
    public static InferenceGraph Compact(InferenceGraph g) => Compact(g, out _);

    public static InferenceGraph Compact(InferenceGraph g, out CompactionReport report)
    {
        int values = g.ValueCount;
        var channels = new int[values];
        var zero = new bool[values][];
        channels[0] = g.InputChannels;
        zero[0] = new bool[g.InputChannels];
        var parent = Enumerable.Range(0, values).ToArray();
        int Find(int v) { while (parent[v] != v) v = parent[v] = parent[parent[v]]; return v; }
        void Tie(int a, int b) => parent[Find(a)] = Find(b);
        var pinned = new HashSet<int> { 0 };
        foreach (var (_, v) in g.Outputs) pinned.Add(v);

        foreach (var n in g.Nodes)
        {
            int x = n.Inputs[0];
            var zin = zero[x];
            bool[] z;
            switch (n.Op)
            {
                case GraphOp.Conv:
                case GraphOp.Linear:
                    {
                        var w = g.Tensors[n.Weight!];
                        int o = w.Shape[0], per = (int)(w.Numel / o), groups = n.Op == GraphOp.Conv ? n.Groups : 1;
                        int cg = w.Shape[1], og = o / groups, taps = per / cg;
                        var bias = n.Bias is null ? null : g.Tensors[n.Bias].Data;
                        z = new bool[o];
                        for (int c = 0; c < o; c++)
                        {
                            if (bias is not null && bias[c] != 0) continue;
                            int first = c / og * cg;
                            bool allZero = true;
                            for (int k = 0; k < per && allZero; k++)
                                if (w.Data[(long)c * per + k] != 0 && !zin[first + k / taps]) allZero = false;
                            z[c] = allZero;
                        }
                        if (n.Inputs.Length == 2)          // a fused residual: zero only where the residual is zero too; same layout
                        {
                            var zr = zero[n.Inputs[1]];
                            for (int c = 0; c < o; c++) z[c] &= zr[c];
                            Tie(n.Inputs[1], n.Output);
                        }
                        if (groups > 1)
                        {
                            if (groups == channels[x] && o == groups) Tie(x, n.Output);         // depthwise: channel c reads channel c
                            else { pinned.Add(x); pinned.Add(n.Output); }
                        }
                        break;
                    }
                case GraphOp.BatchNorm:
                    {
                        var mean = g.Tensors[n.Mean!].Data; var vr = g.Tensors[n.Var!].Data;
                        var gamma = n.Weight is null ? null : g.Tensors[n.Weight].Data; var beta = n.Bias is null ? null : g.Tensors[n.Bias].Data;
                        z = new bool[channels[x]];
                        for (int c = 0; c < z.Length; c++)
                            z[c] = zin[c] && (beta?[c] ?? 0f) - mean[c] * (float)((gamma?[c] ?? 1f) / Math.Sqrt(vr[c] + (double)n.Eps)) == 0;
                        Tie(x, n.Output);
                        break;
                    }
                case GraphOp.Add:
                    {
                        var zb = zero[n.Inputs[1]];
                        z = zin.Select((v, c) => v && zb[c]).ToArray();
                        Tie(x, n.Output); Tie(n.Inputs[1], n.Output);
                        break;
                    }
                default:       // ReLU, ReLU6, max pool, resize, global average pool: zero in, zero out, same layout
                    z = (bool[])zin.Clone();
                    Tie(x, n.Output);
                    break;
            }
            zero[n.Output] = z;
            channels[n.Output] = z.Length;
        }

        // A group's removable channels: zero in every member, none if any member is pinned.
        var groupZero = new Dictionary<int, bool[]>();
        var pinnedGroups = pinned.Select(Find).ToHashSet();
        for (int v = 0; v < values; v++)
        {
            if (zero[v] is null) continue;
            int r = Find(v);
            if (!groupZero.TryGetValue(r, out var gz)) groupZero[r] = gz = Enumerable.Repeat(!pinnedGroups.Contains(r), channels[v]).ToArray();
            for (int c = 0; c < gz.Length; c++) gz[c] &= zero[v][c];
        }
        foreach (var gz in groupZero.Values) if (gz.Length > 0 && gz.All(b => b)) gz[0] = false;
        int[] Kept(int v) => Enumerable.Range(0, channels[v]).Where(c => !groupZero[Find(v)][c]).ToArray();

        var tensors = new Dictionary<string, GraphTensor>(g.Tensors);
        var nodes = new List<GraphNode>();
        foreach (var n in g.Nodes)
        {
            var keepIn = Kept(n.Inputs[0]); var keepOut = Kept(n.Output);
            switch (n.Op)
            {
                case GraphOp.Conv when n.Groups > 1 && n.Groups == channels[n.Inputs[0]] && g.Tensors[n.Weight!].Shape[0] == n.Groups:
                    tensors[n.Weight!] = Slice(g.Tensors[n.Weight!], keepOut, null);
                    if (n.Bias is not null) tensors[n.Bias] = Slice(g.Tensors[n.Bias], keepOut, null);
                    nodes.Add(n with { Groups = keepOut.Length });
                    continue;
                case GraphOp.Conv when n.Groups == 1:
                case GraphOp.Linear:
                    tensors[n.Weight!] = Slice(g.Tensors[n.Weight!], keepOut, keepIn);
                    if (n.Bias is not null) tensors[n.Bias] = Slice(g.Tensors[n.Bias], keepOut, null);
                    break;
                case GraphOp.BatchNorm:
                    foreach (var t in new[] { n.Weight, n.Bias, n.Mean, n.Var }) if (t is not null) tensors[t] = Slice(g.Tensors[t], keepOut, null);
                    break;
            }
            nodes.Add(n);
        }
        var result = new InferenceGraph { Spec = g.Spec, InputChannels = g.InputChannels, Nodes = nodes, Tensors = tensors, Outputs = g.Outputs, Metadata = new(g.Metadata) };
        long Weights(InferenceGraph x) => x.Nodes.Where(n => n.Op is GraphOp.Conv or GraphOp.Linear).Sum(n => x.Tensors[n.Weight!].Numel);
        int Channels(InferenceGraph x, Func<GraphNode, int> count) => x.Nodes.Where(n => n.Op is GraphOp.Conv or GraphOp.Linear).Sum(count);
        report = new CompactionReport(Channels(g, n => g.Tensors[n.Weight!].Shape[0]), Channels(result, n => result.Tensors[n.Weight!].Shape[0]), Weights(g), Weights(result));
        return result;
    }

    /// <summary>The rows <paramref name="rows"/> of dimension 0 and, when given, the entries <paramref name="cols"/> of dimension 1.</summary>
    private static GraphTensor Slice(GraphTensor t, int[] rows, int[]? cols)
    {
        int o = t.Shape[0], per = (int)(t.Numel / Math.Max(1, o));
        int c = t.Shape.Length > 1 ? t.Shape[1] : 1, inner = per / Math.Max(1, c);
        cols ??= Enumerable.Range(0, c).ToArray();
        var shape = (int[])t.Shape.Clone();
        shape[0] = rows.Length;
        if (shape.Length > 1) shape[1] = cols.Length;
        var data = new float[rows.Length * cols.Length * inner];
        int k = 0;
        foreach (var r in rows)
            foreach (var cc in cols)
            {
                Array.Copy(t.Data, (long)r * per + (long)cc * inner, data, k, inner);
                k += inner;
            }
        return new GraphTensor(shape, data);
    }
}
