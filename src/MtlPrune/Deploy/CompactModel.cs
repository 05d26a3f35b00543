using System.Collections.Concurrent;
using System.Diagnostics;
using MtlPrune.Engine;
using MtlPrune.Engine.Inference;

namespace MtlPrune.Deploy;

/// <summary>
/// One convolution's kernel choice, with the times measured for it: each kernel's fastest variant (<see cref="SparseMs"/>
/// with the faster <see cref="Tiling"/>; either kernel over shifted copies of the input where that measured faster, and
/// <see cref="Copies"/> says whether the chosen kernel takes them; <see cref="Packed"/> and <see cref="NonzerosPerBlock"/>, like
/// <see cref="Tiling"/>, describe the sparse kernel's fastest variant).
/// </summary>
public sealed record LayerChoice(string Layer, ConvKind Kind, double Density, double DenseMs, double SparseMs, long Macs, long NonzeroMacs,
    SparseTiling Tiling = SparseTiling.Columns, bool Copies = false, bool Packed = false, bool WideInput = false,
    int NonzerosPerBlock = InferenceConv.DefaultNonzerosPerBlock, SparseSplit Split = SparseSplit.Auto);

/// <summary>
/// The inference runtime of a pruned multi-task model (an <see cref="InferenceGraph"/>, usually from a <c>.mtlp</c> file).
/// For each input shape it makes a plan once: every value's shape; buffer slots shared by values whose lifetimes do not
/// overlap; and, per convolution, the faster of the engine's dense kernel and the sparse kernel, timed on that shape (the
/// first plan, made at load for the model's own input size, decides). <see cref="Run(ReadOnlySpan{float}, int, int, int, IReadOnlyDictionary{string, float[]})"/>
/// writes every task's output into caller buffers and allocates nothing in steady state; calls may come from several
/// threads at once (each takes its own set of buffers).
/// </summary>
public sealed class CompactModel
{
    private readonly InferenceGraph _g;
    private readonly Dictionary<GraphNode, InferenceConv> _convs = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<(int N, int H, int W), Plan> _plans = new();
    private readonly object _planning = new();
    private bool _chosen;
    private readonly List<LayerChoice> _choices = new();
    // Per convolution, the variants of each kernel that measured fastest at load (see ChooseKernels).
    private readonly Dictionary<InferenceConv, (ShiftedCopies DenseCopies, SparseTiling Tiling, ShiftedCopies SparseCopies, bool Packed, int PerBlock, SparseSplit Split)> _variants = new(ReferenceEqualityComparer.Instance);
    // Values laid out with wide rows (ActivationLayout.Wide), as WideValues decided after the kernels were chosen.
    private readonly HashSet<int> _wide = new();

    public InferenceGraph Graph => _g;
    public IReadOnlyList<string> Tasks { get; }
    public IReadOnlyList<LayerChoice> Choices => _choices;

    /// <summary>Prepares the layers; with <paramref name="inputSize"/> (or the graph's recorded input size) it plans for it at once.</summary>
    public CompactModel(InferenceGraph graph, (int H, int W)? inputSize = null)
    {
        _g = graph;
        Tasks = graph.Outputs.Select(o => o.Key).ToList();
        foreach (var n in graph.Nodes.Where(n => n.Op == GraphOp.Conv))
        {
            var w = graph.Tensors[n.Weight!];
            _convs[n] = new InferenceConv(w.Data, w.Shape[0], w.Shape[1] * n.Groups, (n.Kernel[0], n.Kernel[1]), n.Bias is null ? null : graph.Tensors[n.Bias].Data,
                (n.Stride[0], n.Stride[1]), (n.Padding[0], n.Padding[1]), (n.Dilation[0], n.Dilation[1]), n.Groups, n.Activation);
        }
        var size = inputSize ?? RecordedInputSize(graph);
        if (size is { } s) PlanFor(1, s.H, s.W);
    }

    /// <summary>Uses <paramref name="kind"/> for every convolution that can run it (sparse needs groups = 1), overriding the timed choice.</summary>
    public void ForceKernels(ConvKind kind)
    {
        lock (_planning)
        {
            _chosen = true;
            foreach (var c in _convs.Values)
            {
                c.Kind = kind == ConvKind.Sparse && !c.CanRunSparse ? ConvKind.Dense : kind;
                // The variant timed fastest for that kernel at load, if it was timed.
                if (_variants.TryGetValue(c, out var v))
                    (c.Tiling, c.Copies, c.PackTiles, c.NonzerosPerBlock, c.Split) = c.Kind == ConvKind.Sparse ? (v.Tiling, v.SparseCopies, v.Packed, v.PerBlock, v.Split)
                        : (SparseTiling.Columns, v.DenseCopies, false, InferenceConv.DefaultNonzerosPerBlock, SparseSplit.Auto);
            }
            // Wide rows only where the kernels now reading them gain from them; the plans are remade with the new layouts.
            if (_plans.Values.FirstOrDefault() is { } any && WideValues(any) is var wide && !wide.SetEquals(_wide))
            {
                _wide.Clear();
                _wide.UnionWith(wide);
                _plans.Clear();
            }
        }
    }

    /// <summary>Reads a <c>.mtlp</c> file and prepares the runtime for its recorded input size.</summary>
    public static CompactModel Load(string path) => new(MtlpFile.Read(path));

    private static (int H, int W)? RecordedInputSize(InferenceGraph g) =>
        g.Metadata.TryGetValue("inputHeight", out var h) && g.Metadata.TryGetValue("inputWidth", out var w) && int.TryParse(h, out int hh) && int.TryParse(w, out int ww) ? (hh, ww) : null;

    /// <summary>The output shape of <paramref name="task"/> for a batch of n images of h×w.</summary>
    public int[] OutputShape(string task, int n, int h, int w)
    {
        var plan = PlanFor(n, h, w);
        return plan.Shapes[_g.Outputs.First(o => o.Key == task).Value];
    }

    /// <summary>The layout of every value (indexed as the graph's values) for a batch of n images of h×w.</summary>
    public IReadOnlyList<ActivationLayout> Layouts(int n, int h, int w) => PlanFor(n, h, w).Layouts;

    /// <summary>Per-task outputs for input [N, C, H, W], as new tensors (allocates the results; the computation does not).</summary>
    public Dictionary<string, Tensor> Run(Tensor input)
    {
        if (input.Rank != 4 || input.Shape[1] != _g.InputChannels)
            throw new ArgumentException($"CompactModel: input must be [N, {_g.InputChannels}, H, W], got {Tensor.ShapeString(input.Shape)}.");
        int n = input.Shape[0], h = input.Shape[2], w = input.Shape[3];
        var outs = Tasks.ToDictionary(t => t, t => new float[OutputShape(t, n, h, w).Aggregate(1, (a, b) => a * b)]);
        Run(input.Contiguous().Span, n, h, w, outs);
        return outs.ToDictionary(kv => kv.Key, kv => Tensor.FromArray(kv.Value, OutputShape(kv.Key, n, h, w)));
    }

    /// <summary>Runs the model on input [n, C, h, w] and writes each task's output into <paramref name="outputs"/>[task], sized as <see cref="OutputShape"/>.</summary>
    public void Run(ReadOnlySpan<float> input, int n, int h, int w, IReadOnlyDictionary<string, float[]> outputs)
    {
        var plan = PlanFor(n, h, w);
        if (input.Length != n * _g.InputChannels * h * w) throw new ArgumentException($"CompactModel: input has {input.Length} values, [{n}, {_g.InputChannels}, {h}, {w}] needs {n * _g.InputChannels * h * w}.");
        foreach (var (task, v) in _g.Outputs)
        {
            if (!outputs.TryGetValue(task, out var dst)) throw new ArgumentException($"CompactModel: no output buffer for task '{task}'.");
            if (dst.Length < plan.Length(v)) throw new ArgumentException($"CompactModel: output buffer of '{task}' has {dst.Length} values, needs {plan.Length(v)}.");
        }
        if (!plan.Free.TryTake(out var buffers)) buffers = plan.Slots.Select(AlignedBuffer.New).ToArray();
        try
        {
            input.CopyTo(buffers[plan.SlotOf[0]].AsSpan(AlignedBuffer.Start(buffers[plan.SlotOf[0]])));
            // A task's output is written by its last operation straight into the caller's buffer, when nothing else reads it.
            foreach (var node in _g.Nodes)
                Execute(node, plan, buffers, h, w, plan.Direct[node.Output] is string task ? outputs[task] : null);
            foreach (var (task, v) in _g.Outputs)
                if (plan.Direct[v] != task) buffers[plan.SlotOf[v]].AsSpan(AlignedBuffer.Start(buffers[plan.SlotOf[v]]), plan.Length(v)).CopyTo(outputs[task]);
        }
        finally { plan.Free.Add(buffers); }
    }

    /// <summary>Median milliseconds of each operation over <paramref name="runs"/> runs on one h×w image (operations timed one by one).</summary>
    public List<(GraphNode Node, double Ms)> Profile(int h, int w, int runs = 5)
    {
        var plan = PlanFor(1, h, w);
        if (!plan.Free.TryTake(out var buffers)) buffers = plan.Slots.Select(AlignedBuffer.New).ToArray();
        try
        {
            var times = _g.Nodes.Select(_ => new double[runs]).ToArray();
            for (int r = -1; r < runs; r++)
                for (int i = 0; i < _g.Nodes.Count; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    Execute(_g.Nodes[i], plan, buffers, h, w);
                    if (r >= 0) times[i][r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
            return _g.Nodes.Select((n, i) => { Array.Sort(times[i]); return (n, times[i][runs / 2]); }).ToList();
        }
        finally { plan.Free.Add(buffers); }
    }

    private void Execute(GraphNode node, Plan plan, float[][] b, int inH, int inW, float[]? output = null)
    {
        var inShape = plan.Shapes[node.Inputs[0]];
        var x = b[plan.SlotOf[node.Inputs[0]]]; var y = output ?? b[plan.SlotOf[node.Output]];
        int inLen = plan.Length(node.Inputs[0]), outLen = plan.Length(node.Output), xo = AlignedBuffer.Start(x), yo = output is null ? AlignedBuffer.Start(y) : 0;
        var x2 = node.Inputs.Length == 2 ? b[plan.SlotOf[node.Inputs[1]]] : null;
        int x2o = x2 is null ? 0 : AlignedBuffer.Start(x2);
        switch (node.Op)
        {
            case GraphOp.Conv:
                {
                    var rl = x2 is null ? plan.Layouts[node.Output] : plan.Layouts[node.Inputs[1]];
                    _convs[node].Run(x, xo, plan.Layouts[node.Inputs[0]], y, yo, plan.Layouts[node.Output], x2, x2o, rl);
                    break;
                }
            case GraphOp.BatchNorm:
                {
                    int c = inShape[1], plane = inShape[2] * inShape[3];
                    var mean = _g.Tensors[node.Mean!].Data; var vr = _g.Tensors[node.Var!].Data;
                    var gamma = node.Weight is null ? null : _g.Tensors[node.Weight].Data; var beta = node.Bias is null ? null : _g.Tensors[node.Bias].Data;
                    for (int i = 0; i < inShape[0]; i++)
                        for (int ch = 0; ch < c; ch++)
                        {
                            float scale = (float)((gamma?[ch] ?? 1f) / Math.Sqrt(vr[ch] + (double)node.Eps)), shift = (beta?[ch] ?? 0f) - mean[ch] * scale;
                            var s = x.AsSpan(xo + (i * c + ch) * plane, plane); var d = y.AsSpan(yo + (i * c + ch) * plane, plane);
                            System.Numerics.Tensors.TensorPrimitives.Multiply(s, scale, d);
                            System.Numerics.Tensors.TensorPrimitives.Add(d, shift, d);
                        }
                    break;
                }
            case GraphOp.Relu:
            case GraphOp.Relu6:
                x.AsSpan(xo, inLen).CopyTo(y.AsSpan(yo));
                InferenceOps.Activate(y.AsSpan(yo, inLen), node.Op == GraphOp.Relu ? Activation.Relu : Activation.Relu6);
                break;
            case GraphOp.Add:
                InferenceOps.Add(x.AsSpan(xo, inLen), x2!.AsSpan(x2o, inLen), y.AsSpan(yo, inLen), node.Activation);
                break;
            case GraphOp.MaxPool:
                InferenceOps.MaxPool2d(x.AsSpan(xo, inLen), inShape[0] * inShape[1], inShape[2], inShape[3], node.Kernel[0], node.Stride[0], node.Padding[0], node.Ceil, y.AsSpan(yo));
                break;
            case GraphOp.Resize:
                InferenceOps.ResizeBilinear(x.AsSpan(xo, inLen), inShape[0] * inShape[1], inShape[2], inShape[3], y.AsSpan(yo), inH, inW);
                break;
            case GraphOp.GlobalAvgPool:
                InferenceOps.GlobalAvgPool(x.AsSpan(xo, inLen), inShape[0] * inShape[1], inShape[2] * inShape[3], y.AsSpan(yo));
                break;
            case GraphOp.Linear:
                {
                    var wt = _g.Tensors[node.Weight!];
                    InferenceOps.Linear(x.AsSpan(xo, inLen), inShape[0], wt.Shape[1], wt.Data, node.Bias is null ? ReadOnlySpan<float>.Empty : _g.Tensors[node.Bias].Data, wt.Shape[0], y.AsSpan(yo));
                    InferenceOps.Activate(y.AsSpan(yo, outLen), node.Activation);
                    break;
                }
            default:
                throw new NotSupportedException($"CompactModel: operation {node.Op}.");
        }
    }

    private Plan PlanFor(int n, int h, int w)
    {
        if (_plans.TryGetValue((n, h, w), out var p)) return p;
        lock (_planning)
        {
            if (_plans.TryGetValue((n, h, w), out p)) return p;
            p = MakePlan(n, h, w);
            if (!_chosen)
            {
                ChooseKernels(p, h, w, null);
                _chosen = true;
                // Then the values whose readers chose vector tiles get wide rows, and the layers reading or writing them are
                // timed again on those (a reader may now prefer another kernel: it was timed on the layout it will get).
                // Values whose readers then chose otherwise go back to tight rows, and their layers are timed once more.
                _wide.UnionWith(WideValues(p));
                if (_wide.Count > 0)
                {
                    p = MakePlan(n, h, w);
                    ChooseKernels(p, h, w, Touching(_wide));
                    var dropped = _wide.Except(WideValues(p)).ToHashSet();
                    if (dropped.Count > 0)
                    {
                        _wide.ExceptWith(dropped);
                        p = MakePlan(n, h, w);
                        ChooseKernels(p, h, w, Touching(dropped));
                    }
                }
            }
            _plans[(n, h, w)] = p;
            return p;
        }
    }

    /// <summary>
    /// Shapes and layouts of every value, and buffer slots reused once a value's last reader has run. A padded value only
    /// reuses slots of its own plane geometry, so the zero border its writers never touch stays zero.
    /// </summary>
    private Plan MakePlan(int n, int h, int w)
    {
        int values = _g.ValueCount;
        var shapes = _g.Shapes(n, h, w);
        var layouts = Layouts(shapes);
        // Last reader of each value; outputs live to the end.
        var last = new int[values];
        for (int i = 0; i < _g.Nodes.Count; i++) foreach (var v in _g.Nodes[i].Inputs) last[v] = i;
        foreach (var (_, v) in _g.Outputs) last[v] = int.MaxValue;
        var slotOf = new int[values]; var sizes = new List<long>(); var keys = new List<(int, int, int, int, int, int)>(); var free = new List<int>();
        int Take(int v)
        {
            var l = layouts[v];
            long need = l.Capacity;
            var key = l.Padded ? (l.N, l.PaddedRows, l.RowStride, l.PadH, l.PadW, l.Lead) : default;
            int best = -1;
            foreach (var s in free)
                if (keys[s] == key && (best < 0 || Math.Abs(sizes[s] - need) < Math.Abs(sizes[best] - need))) best = s;
            if (best < 0) { sizes.Add(need); keys.Add(key); return sizes.Count - 1; }
            free.Remove(best);
            sizes[best] = Math.Max(sizes[best], need);
            return best;
        }
        slotOf[0] = Take(0);
        for (int i = 0; i < _g.Nodes.Count; i++)
        {
            var node = _g.Nodes[i];
            slotOf[node.Output] = Take(node.Output);
            foreach (var v in node.Inputs.Distinct()) if (last[v] == i) free.Add(slotOf[v]);
        }
        if (sizes.Any(s => s > Array.MaxLength)) throw new ArgumentException($"CompactModel: an input of [{n}, {_g.InputChannels}, {h}, {w}] needs a buffer larger than an array can be.");
        // Outputs that go straight to the caller: computed by an operation, read by none, and the output of one task only.
        var direct = new string?[values];
        foreach (var (task, v) in _g.Outputs)
            if (v != 0 && _g.Outputs.Count(o => o.Value == v) == 1 && !_g.Nodes.Any(nd => nd.Inputs.Contains(v)) && !layouts[v].Padded) direct[v] = task;
        return new Plan(shapes, layouts, slotOf, sizes.Select(s => (int)s).ToArray(), direct);
    }

    /// <summary>
    /// Each value's layout: padded as its readers pad when a convolution (groups = 1) writes it and every reader is such a
    /// convolution, at least one with stride 1 and padding (it then reads the buffer in place); plain NCHW otherwise.
    /// </summary>
    private ActivationLayout[] Layouts(int[][] shapes)
    {
        // Rank-2 values (pooled features, logits) are plain [N, F, 1, 1]; values nothing computes take no space.
        var layouts = shapes.Select(s => s is null ? default : ActivationLayout.Plain(s[0], s[1], s.Length > 2 ? s[2] : 1, s.Length > 3 ? s[3] : 1)).ToArray();
        var outputs = _g.Outputs.Select(o => o.Value).ToHashSet();
        foreach (var node in _g.Nodes)
        {
            int v = node.Output;
            if (node.Op != GraphOp.Conv || _convs[node].Groups != 1 || outputs.Contains(v) || shapes[v].Length != 4) continue;
            var readers = _g.Nodes.Where(r => r.Inputs.Contains(v)).ToList();
            if (readers.Count == 0 || readers.Any(r => r.Op != GraphOp.Conv || _convs[r].Groups != 1)) continue;
            var inPlace = readers.Where(r => r.Inputs[0] == v).Select(r => _convs[r])
                .FirstOrDefault(c => c.Stride == (1, 1) && (c.Padding.H > 0 || c.Padding.W > 0));
            if (inPlace is null) continue;
            layouts[v] = layouts[v] with { PadH = inPlace.Padding.H, PadW = inPlace.Padding.W, Wide = _wide.Contains(v) };
        }
        return layouts;
    }

    private HashSet<GraphNode> Touching(HashSet<int> values) =>
        _g.Nodes.Where(nd => nd.Op == GraphOp.Conv && nd.Inputs.Append(nd.Output).Any(values.Contains)).ToHashSet();

    /// <summary>
    /// The padded values (border at most 16 columns) that every convolution reading them in place reads with the sparse
    /// kernel's vector tiles, straight from the buffer: wide rows (<see cref="ActivationLayout.Wide"/>) align the middle
    /// column of their taps and their stores. Other kernels would compute the extra columns of a wide row, so they keep
    /// tight rows. On resnet-mini's 3×3 layers at 30% density, the wide rows measured about 10% faster per layer.
    /// </summary>
    private HashSet<int> WideValues(Plan plan)
    {
        var wide = new HashSet<int>();
        for (int v = 0; v < plan.Layouts.Length; v++)
        {
            var l = plan.Layouts[v];
            if (!l.Padded || l.PadW > ActivationLayout.WideLead) continue;
            var inPlace = _g.Nodes.Where(r => r.Op == GraphOp.Conv && r.Inputs[0] == v).Select(r => _convs[r])
                .Where(c => l.ServesAsPhaseBuffer(c.Stride, c.Padding)).ToList();
            if (inPlace.Count > 0 && inPlace.All(c => c.Kind == ConvKind.Sparse && c.Tiling == SparseTiling.Vectors && c.Copies != ShiftedCopies.On)) wide.Add(v);
        }
        return wide;
    }

    /// <summary>
    /// Times each convolution (of <paramref name="only"/>, when given) both ways on this plan's shapes and layouts, with
    /// each kernel's variants, and keeps the fastest (see <see cref="Fastest"/>).
    /// </summary>
    private void ChooseKernels(Plan plan, int h, int w, HashSet<GraphNode>? only)
    {
        foreach (var node in _g.Nodes.Where(n => n.Op == GraphOp.Conv && (only is null || only.Contains(n))))
        {
            var conv = _convs[node];
            var outS = plan.Shapes[node.Output];
            ActivationLayout xl = plan.Layouts[node.Inputs[0]], yl = plan.Layouts[node.Output];
            var x = AlignedBuffer.New((int)xl.Capacity); var y = AlignedBuffer.New((int)yl.Capacity);
            int xo = AlignedBuffer.Start(x), yo = AlignedBuffer.Start(y);
            // Inputs written as a run writes them: a fresh array that nothing has written may be backed by the operating
            // system's one shared page of zeros, which every read then finds in the L1 cache, and the layer times faster than
            // it runs in the model (resnet-mini's sparse layers at 70% by a third).
            FillForTiming(x);
            ActivationLayout rl = node.Inputs.Length == 2 ? plan.Layouts[node.Inputs[1]] : yl;
            var res = node.Inputs.Length == 2 ? AlignedBuffer.New((int)rl.Capacity) : null;
            int ro = res is null ? 0 : AlignedBuffer.Start(res);
            if (res is not null) FillForTiming(res);
            void Run(Variant v)
            {
                (conv.Kind, conv.Tiling, conv.Copies, conv.PackTiles, conv.NonzerosPerBlock, conv.Split) = (v.Kind, v.Tiling, v.Copies, v.Packed, v.PerBlock, v.Split);
                conv.Run(x, xo, xl, y, yo, yl, res, ro, rl);
            }
            // Each kernel's variants: over shifted copies of the input or not (stride-1 layers wider than one column); for the
            // sparse kernel, every tiling with and without packing (packing changes which tiling wins: on DeepLab's 36×48 maps
            // column tiles beat vector tiles read in place, and packed vector tiles beat both, by 10-25%), tiles of output
            // vectors where output rows are whole vectors (faster on narrow maps, slower on wide dilated ones), and position
            // tiles (always packed) where rows are at least a vector wide: no padding columns computed on rows that are not
            // whole vectors (DeepLab's 37×49).
            bool copiable = conv.Stride == (1, 1) && conv.Kernel.W > 1;
            const int pb = InferenceConv.DefaultNonzerosPerBlock;
            var dense = new List<Variant> { new(ConvKind.Dense, SparseTiling.Columns, ShiftedCopies.Off, false, pb, SparseSplit.Auto) };
            if (copiable) dense.Add(dense[0] with { Copies = ShiftedCopies.On });
            var sparse = new List<Variant>();
            if (conv.CanRunSparse)
            {
                foreach (var t in outS[3] % 16 == 0 ? new[] { SparseTiling.Columns, SparseTiling.Vectors } : new[] { SparseTiling.Columns })
                    foreach (var p in new[] { false, true })
                        sparse.Add(new(ConvKind.Sparse, t, ShiftedCopies.Off, p, pb, SparseSplit.Auto));
                if (outS[3] >= 16) sparse.Add(new(ConvKind.Sparse, SparseTiling.Positions, ShiftedCopies.Off, true, pb, SparseSplit.Auto));
                if (copiable) foreach (var p in new[] { false, true }) sparse.Add(new(ConvKind.Sparse, SparseTiling.Columns, ShiftedCopies.On, p, pb, SparseSplit.Auto));
            }
            var times = Fastest(dense.Concat(sparse).ToList(), Run);
            var (bestDense, denseMs) = times.Take(dense.Count).MinBy(t => t.Ms);
            var (best, sparseMs) = sparse.Count == 0 ? (dense[0], double.PositiveInfinity) : times.Skip(dense.Count).MinBy(t => t.Ms);
            if (conv.CanRunSparse)
            {
                // Then fewer, larger blocks of input channels for the winner: on 512→512 and 512→1024 layers at 36×48 and 90%
                // sparsity, 4-8x the default measured 1-18% faster (fewer reloads of the output channels' sums); at 70%, 5-25% slower.
                (best, sparseMs) = Fastest(BlockSizes.Select(nz => best with { PerBlock = nz }).Prepend(best).ToList(), Run).MinBy(t => t.Ms);
                // Then the work split across cores both ways (SparseSplit): by tiles, each core packs only its own tiles.
                if (Environment.ProcessorCount > 1)
                    (best, sparseMs) = Fastest(new[] { best with { Split = SparseSplit.Rows }, best with { Split = SparseSplit.Tiles } }, Run).MinBy(t => t.Ms);
            }
            bool sparseWins = sparseMs < denseMs;
            _variants[conv] = (bestDense.Copies, best.Tiling, best.Copies, best.Packed, best.PerBlock, best.Split);
            var chosen = sparseWins ? best : bestDense;
            (conv.Kind, conv.Tiling, conv.Copies, conv.PackTiles, conv.NonzerosPerBlock, conv.Split) = (chosen.Kind, chosen.Tiling, chosen.Copies, chosen.Packed, chosen.PerBlock, chosen.Split);
            long macs = conv.Weights * outS[2] * outS[3], nzMacs = conv.Nonzeros * outS[2] * outS[3];
            var choice = new LayerChoice(node.Name ?? node.Weight!, conv.Kind, (double)conv.Nonzeros / conv.Weights, denseMs, sparseMs, macs, nzMacs,
                best.Tiling, chosen.Copies == ShiftedCopies.On, best.Packed, xl.Wide, best.PerBlock, best.Split);
            int at = _choices.FindIndex(c => c.Layer == choice.Layer);
            if (at >= 0) _choices[at] = choice; else _choices.Add(choice);
        }
    }

    /// <summary>One way to run a convolution, as <see cref="ChooseKernels"/> times it.</summary>
    private readonly record struct Variant(ConvKind Kind, SparseTiling Tiling, ShiftedCopies Copies, bool Packed, int PerBlock, SparseSplit Split);

    /// <summary>Runs each variant timed at load takes, after a warm-up run of each.</summary>
    private const int TimedRuns = 5;

    /// <summary>
    /// Each variant's fastest of <see cref="TimedRuns"/> runs, taken in turns (one run of each variant, then again), after a
    /// warm-up run of each. In turns, a slow spell of the machine (its clock moves 15-30% within seconds) slows every
    /// variant alike instead of the few timed during it; and the fastest run, not the median, since other work only ever
    /// adds time. With medians of 5 runs taken one variant after the other, resnet-mini's layers at 70% changed their
    /// choices from one load to the next.
    /// </summary>
    private static (Variant Variant, double Ms)[] Fastest(IReadOnlyList<Variant> variants, Action<Variant> run)
    {
        var best = new double[variants.Count];
        Array.Fill(best, double.PositiveInfinity);
        foreach (var v in variants) run(v);
        for (int r = 0; r < TimedRuns; r++)
            for (int i = 0; i < variants.Count; i++)
            {
                long s0 = Stopwatch.GetTimestamp();
                run(variants[i]);
                best[i] = Math.Min(best[i], Stopwatch.GetElapsedTime(s0).TotalMilliseconds);
            }
        return variants.Select((v, i) => (v, best[i])).ToArray();
    }

    /// <summary>Writes every float of a timing buffer (values in [0, 1), as after a ReLU), so that each page is its own.</summary>
    private static void FillForTiming(float[] buffer)
    {
        for (int i = 0; i < buffer.Length; i++) buffer[i] = (i * 0x9E3779B9u >> 8) * (1f / (1 << 24));
    }

    /// <summary>The larger <see cref="InferenceConv.NonzerosPerBlock"/> values timed against the default for each sparse layer.</summary>
    private static readonly int[] BlockSizes = [96, 192];

    private sealed class Plan(int[][] shapes, ActivationLayout[] layouts, int[] slotOf, int[] slots, string?[] direct)
    {
        /// <summary>Per value: the task whose caller buffer the value is written into directly, or null.</summary>
        public string?[] Direct { get; } = direct;
        public int[][] Shapes { get; } = shapes;
        public ActivationLayout[] Layouts { get; } = layouts;
        public int[] SlotOf { get; } = slotOf;
        public int[] Slots { get; } = slots;
        public ConcurrentBag<float[][]> Free { get; } = new();
        public int Length(int v) => Shapes[v].Aggregate(1, (a, b) => a * b);
    }
}
