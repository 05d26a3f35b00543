using System.Globalization;
using System.Text;
using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Engine.Inference;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using MtlPrune.Training;

namespace MtlPrune.Bench;

/// <summary>One row of <c>mtlprune bench infer</c>: a model variant at one sparsity, its batch-1 latency and its size.</summary>
public sealed record InferRow(string Network, string Input, double Sparsity, string Model, double MedianMs, double MinMs, double MaxMs, int Runs,
    long Macs, long NonzeroMacs, long FileBytes, double SpeedUp, double Gflops, double? PeakFraction, int SparseLayers, int ConvLayers,
    long AllocatedBytesPerRun, string? Goal, bool? GoalMet);

/// <summary>
/// Batch-1 inference of four variants of a network in one run, each timed alternately with the dense model so that
/// speed-ups are ratios of medians measured together:
/// <b>dense</b>, the unpruned model on the engine's dense kernels with batch norm folded and activations fused (our fastest
/// dense inference, reported against the FMA peak); <b>masked</b>, the pruned model computed densely, as frameworks run a
/// masked model; <b>compact sparse</b>, the <c>.mtlp</c> of the pruned model with each layer's kernel chosen by timing at
/// load; <b>structured</b>, whole filters pruned to the same sparsity and their channels removed, on whichever kernels win.
/// Masks are magnitude masks of the network's weights — speed depends on where the zeros are, not on which method put
/// them there: <b>uniform</b> (every layer at the sparsity, so MACs fall with it; the speed goals are measured here),
/// <b>global</b> (one ranking over all layers, as CUT, SNIP and global magnitude produce: the high-resolution early layers
/// stay denser, so MACs fall less than the weights), and for the structured model each layer's filters of smallest L1 norm.
/// </summary>
public sealed class InferenceBench(int runs, Action<string>? progress = null)
{
    public List<InferRow> Rows { get; } = new();
    private Action? _dense;      // one batch-1 run of the current network's dense model
    public double Peak { get; private set; }
    public List<string> Notes { get; } = new();
    /// <summary>Per compact row (by index in <see cref="Rows"/>): each convolution's kernel choice and the times behind it.</summary>
    public Dictionary<int, IReadOnlyList<LayerChoice>> Choices { get; } = new();
    /// <summary>Per row: milliseconds per operation type, each operation timed alone.</summary>
    public Dictionary<int, List<(string Op, double Ms)>> Profiles { get; } = new();

    /// <summary>
    /// Least time the paired runs of a model and the dense one take together: a fast model (resnet-mini, 2-7 ms a run)
    /// gets as many runs as fill it, so that its speed-up is a median of a second of runs, not of 30 ms of them.
    /// </summary>
    public const double MinPairedMs = 1000;

    public static readonly IReadOnlyList<(string Network, int H, int W)> DefaultNetworks = new[] { ("resnet-mini", 128, 128), ("deeplab-resnet34", 288, 384) };

    public void Run(IEnumerable<(string Network, int H, int W)> networks, IReadOnlyList<double> sparsities)
    {
        progress?.Invoke("measuring the FMA peak");
        Peak = PeakFlops.Measure(Environment.ProcessorCount);
        foreach (var (net, h, w) in networks) RunNetwork(net, h, w, sparsities);
        progress?.Invoke("measuring the FMA peak again");
        Peak = Math.Max(Peak, PeakFlops.Measure(Environment.ProcessorCount));
        foreach (var (r, i) in Rows.Select((r, i) => (r, i)).ToList())
            Rows[i] = r with { PeakFraction = r.Gflops / Peak };
    }

    private static MultiTaskModel Build(string network, out string weights)
    {
        var tasks = new[] { "seg", "depth" };
        var file = Path.Combine(AppContext.BaseDirectory, "models", "resnet-mini-scenes64.safetensors");
        if (network == "resnet-mini" && File.Exists(file))
        {
            weights = "trained on the built-in scenes (models/resnet-mini-scenes64.safetensors)";
            return Checkpoint.Load(file).Model.SelectTasks(tasks);
        }
        weights = "initialised (no trained weights at hand)";
        return ModelFactory.Build(ModelSpec.Preset(network), 1).SelectTasks(tasks);
    }

    private void RunNetwork(string network, int h, int w, IReadOnlyList<double> sparsities)
    {
        string input = $"3x{h}x{w}";
        var model = Build(network, out var weights);
        model.Eval();
        Notes.Add($"{network}: tasks seg, depth; weights {weights}.");
        var original = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.CloneData());
        using var tmp = new TempFiles();

        progress?.Invoke($"{network} {input}: dense");
        _dense = null;
        var denseGraph = GraphPasses.Optimize(ModelLowering.Lower(model));
        var dense = Measure(network, input, 0, "dense", denseGraph, h, w, ConvKind.Dense, tmp, out double denseMs);
        Rows.Add(dense);
        // The engine's own forward pass (eval mode, no gradients), as `bench engine` times it (in a buffer scope, so its
        // tensors reuse pooled buffers: without one, every run allocated fresh arrays and took 6× as long on resnet-mini):
        // the dense baseline must not be slower than this.
        progress?.Invoke($"{network} {input}: engine forward");
        var xin = Tensor.Normal(new[] { 1, 3, h, w }, new Rng(1));
        var (denseAgain, eager) = BenchTimer.Paired(_dense!, () => { using var scope = BufferScope.Begin(); using var _ = Autograd.NoGrad(); model.ForwardAll(xin); }, runs, warmup: 2, minMs: MinPairedMs);
        var (dm, _) = denseGraph.Macs(h, w);
        Rows.Add(new InferRow(network, input, 0, "engine forward (eval, no grad)", eager.MedianMs, eager.MinMs, eager.MaxMs, eager.Runs, dm, dm, 0,
            denseAgain.MedianMs / eager.MedianMs, 2.0 * dm / (eager.MedianMs * 1e-3) / 1e9, null, 0, denseGraph.Nodes.Count(n => n.Op == GraphOp.Conv), eager.AllocatedBytesPerRun, null, null));
        foreach (var s in sparsities)
        {
            InferenceGraph Pruned(bool perLayer, bool filters)
            {
                MaskSet.Remove(model);
                model.LoadStateDict(original, strict: true);
                var ctx = new PruningContext { Model = model, Targets = new PruningSelection().Select(model), Sparsity = s, CalibrationBatches = _ => Enumerable.Empty<Data.Batch>() };
                new MagnitudePruning(perLayer, filters).Prune(ctx).Masks.Apply(model);
                return GraphPasses.Optimize(ModelLowering.Lower(model));
            }
            var uniform = Pruned(perLayer: true, filters: false);
            progress?.Invoke($"{network} {input} at {s:P0}: masked");
            Rows.Add(Measure(network, input, s, "masked (dense kernels)", uniform, h, w, ConvKind.Dense, tmp, out _, denseMs));
            progress?.Invoke($"{network} {input} at {s:P0}: compact sparse");
            Rows.Add(Measure(network, input, s, "compact sparse, uniform masks", uniform, h, w, null, tmp, out _, denseMs, SpeedGoal(s)));
            progress?.Invoke($"{network} {input} at {s:P0}: compact sparse, global masks");
            Rows.Add(Measure(network, input, s, "compact sparse, global masks", Pruned(perLayer: false, filters: false), h, w, null, tmp, out _, denseMs));
            progress?.Invoke($"{network} {input} at {s:P0}: structured");
            Rows.Add(Measure(network, input, s, "structured (channels removed)", ChannelCompaction.Compact(Pruned(perLayer: true, filters: true)), h, w, null, tmp, out _, denseMs));
        }
        MaskSet.Remove(model);
        model.LoadStateDict(original, strict: true);
    }

    /// <summary>The issue's goals for the compact sparse model: ≥ 3× at 90 %, ≥ 1.8× at 70 %, never slower at 50 %.</summary>
    public static double? SpeedGoal(double sparsity) => sparsity switch { >= 0.895 and <= 0.905 => 3.0, >= 0.695 and <= 0.705 => 1.8, >= 0.495 and <= 0.505 => 1.0, _ => null };

    private InferRow Measure(string network, string input, double sparsity, string name, InferenceGraph g, int h, int w, ConvKind? force, TempFiles tmp,
        out double ms, double? denseMs = null, double? goal = null)
    {
        var path = tmp.Next();
        MtlpFile.Write(g, path);
        long bytes = new FileInfo(path).Length;
        var cm = new CompactModel(MtlpFile.Read(path), (h, w));
        if (force is { } k) cm.ForceKernels(k);
        var x = Tensor.Normal(new[] { 1, 3, h, w }, new Rng(1)).ToArray();
        var outs = cm.Tasks.ToDictionary(t => t, t => new float[cm.OutputShape(t, 1, h, w).Aggregate(1, (a, b) => a * b)]);
        Timing t;
        double speed = 1;
        if (_dense is { } d && denseMs is not null)
        {
            // Alternating with the dense model, so the speed-up is a ratio of medians taken under the same clock.
            var (dt, mt) = BenchTimer.Paired(d, () => cm.Run(x, 1, h, w, outs), runs, warmup: 2, minMs: MinPairedMs);
            t = mt;
            speed = dt.MedianMs / mt.MedianMs;
        }
        else t = BenchTimer.Measure(() => cm.Run(x, 1, h, w, outs), runs, warmup: 2);
        ms = t.MedianMs;
        if (denseMs is null) _dense = () => cm.Run(x, 1, h, w, outs);
        var (macs, nz) = g.Macs(h, w);
        int convs = g.Nodes.Count(n => n.Op == GraphOp.Conv);
        int sparseLayers = force == ConvKind.Dense ? 0 : cm.Choices.Count(c => c.Kind == ConvKind.Sparse);
        if (force is null) Choices[Rows.Count] = cm.Choices;
        Profiles[Rows.Count] = cm.Profile(h, w).GroupBy(p => p.Node.Op).Select(g => (g.Key.ToString(), g.Sum(p => p.Ms))).ToList();
        string? goalText = goal is double gg ? string.Create(CultureInfo.InvariantCulture, $"≥ {gg:0.0#}× dense") : null;
        return new InferRow(network, input, sparsity, name, t.MedianMs, t.MinMs, t.MaxMs, t.Runs, macs, nz, bytes, speed,
            2.0 * (force == ConvKind.Dense ? macs : nz) / (t.MedianMs * 1e-3) / 1e9, null, sparseLayers, convs, t.AllocatedBytesPerRun, goalText, goal is double g2 ? speed >= g2 : null);
    }

    public string ToMarkdown()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("| network | input | sparsity | model | median ms | min–max ms | MACs | file MiB | speed-up | GFLOP/s | of peak | sparse layers | goal | met |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in Rows)
            sb.AppendLine(string.Create(ci, $"| {r.Network} | {r.Input} | {(r.Sparsity == 0 ? "0" : r.Sparsity.ToString("P0", ci))} | {r.Model} | {r.MedianMs:F2} | {r.MinMs:F2}–{r.MaxMs:F2} | " +
                $"{(r.Model.StartsWith("masked") || r.Model == "dense" ? r.Macs : r.NonzeroMacs) / 1e6:F1} M | {r.FileBytes / 1048576.0:F2} | {r.SpeedUp:F2}× | {r.Gflops:F0} | {r.PeakFraction:P0} | " +
                $"{r.SparseLayers}/{r.ConvLayers} | {r.Goal ?? ""} | {(r.GoalMet switch { true => "yes", false => "no", _ => "" })} |"));
        return sb.ToString();
    }

    /// <summary>Temporary .mtlp files, deleted at the end.</summary>
    private sealed class TempFiles : IDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mtlprune-bench-{Guid.NewGuid():N}");
        private int _n;
        public TempFiles() => Directory.CreateDirectory(_dir);
        public string Next() => Path.Combine(_dir, $"{_n++}.mtlp");
        public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }
    }
}
