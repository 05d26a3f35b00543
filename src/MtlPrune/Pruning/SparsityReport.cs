using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Models;

namespace MtlPrune.Pruning;

/// <summary>One conv or linear weight: its size, nonzero entries and multiply-accumulates per image.</summary>
public sealed record LayerSparsity(string Name, string Component, string Type, int[] Shape, long Numel, long Nonzero, bool Selected, long DenseMacs, long NonzeroMacs)
{
    public double Sparsity => Numel == 0 ? 0 : 1 - (double)Nonzero / Numel;
}

/// <summary>Totals of a group of weights (a component, or the whole model).</summary>
public sealed record SparsityTotals(string Name, long Numel, long Nonzero, long DenseMacs, long NonzeroMacs)
{
    public double Sparsity => Numel == 0 ? 0 : 1 - (double)Nonzero / Numel;
    /// <summary>Dense MACs over nonzero MACs: the theoretical speed-up (ShrinkBench's convention).</summary>
    public double MacReduction => NonzeroMacs == 0 ? double.PositiveInfinity : (double)DenseMacs / NonzeroMacs;
}

/// <summary>
/// Sparsity accounting of a (pruned) model: per conv/linear weight, per component (backbone and each head) and overall.
/// Sparsity is the fraction of exactly-zero entries (pruned weights are exactly 0). Three conventions overall:
/// <see cref="Selected"/>, over the weights the pruning selection covered (what the requested sparsity targets);
/// <see cref="ConvLinear"/>, over every conv and linear weight of the backbone and the kept heads (the papers');
/// <see cref="AllParameters"/>, over every parameter (biases and batch norm included). MACs are the multiply-accumulates
/// of conv and linear layers for one image of the given size; nonzero MACs count only nonzero weights (dense MACs ×
/// density per layer).
/// </summary>
public sealed record SparsityReport(
    double? Requested, int[] InputShape, IReadOnlyList<LayerSparsity> Layers, IReadOnlyList<SparsityTotals> Components,
    SparsityTotals Selected, SparsityTotals ConvLinear, SparsityTotals AllParameters)
{
    /// <summary>Measures <paramref name="model"/> for an input of shape [C, H, W].</summary>
    /// <param name="model">The model, masked or not.</param>
    /// <param name="inputShape">One image's shape [C, H, W], for the MACs.</param>
    /// <param name="selected">The pruning selection's weights (null: every conv and linear weight).</param>
    /// <param name="requested">The sparsity that was asked for, reported beside the measured one.</param>
    public static SparsityReport Measure(MultiTaskModel model, int[] inputShape, IReadOnlyCollection<string>? selected = null, double? requested = null)
    {
        var positions = OutputPositions(model, inputShape);
        var layers = new List<LayerSparsity>();
        foreach (var p in model.ParameterInfos())
        {
            if (p.Owner is not IWeightedLayer layer || !ReferenceEquals(layer.Weight, p.Tensor)) continue;
            long nz = Nonzero(p.Tensor);
            long pos = positions.TryGetValue(layer, out var q) ? q : 0;
            layers.Add(new LayerSparsity(p.Name, p.Role.IsShared ? "backbone" : $"head:{p.Role.Task}", PruningSelection.TypeOf(layer).ToString().ToLowerInvariant(),
                p.Tensor.Shape, p.Tensor.Numel, nz, selected?.Contains(p.Name) ?? true, p.Tensor.Numel * pos, nz * pos));
        }
        SparsityTotals Sum(string name, IEnumerable<LayerSparsity> ls)
        {
            var l = ls.ToList();
            return new SparsityTotals(name, l.Sum(x => x.Numel), l.Sum(x => x.Nonzero), l.Sum(x => x.DenseMacs), l.Sum(x => x.NonzeroMacs));
        }
        var components = layers.GroupBy(l => l.Component).Select(g => Sum(g.Key, g)).ToList();
        long allN = 0, allNz = 0;
        foreach (var p in model.Parameters()) { allN += p.Numel; allNz += Nonzero(p); }
        var conv = Sum("conv+linear", layers);
        return new SparsityReport(requested, inputShape, layers, components, Sum("selected", layers.Where(l => l.Selected)), conv,
            new SparsityTotals("all parameters", allN, allNz, conv.DenseMacs, conv.NonzeroMacs));
    }

    private static long Nonzero(Tensor t)
    {
        long n = 0;
        foreach (var v in t.Contiguous().Span) if (v != 0) n++;
        return n;
    }

    /// <summary>Output positions (H·W, or 1 for linear layers) of every weighted layer for one image, from one forward pass.</summary>
    private static Dictionary<IWeightedLayer, long> OutputPositions(MultiTaskModel model, int[] inputShape)
    {
        var result = new Dictionary<IWeightedLayer, long>(ReferenceEqualityComparer.Instance);
        var layers = MaskSet.Layers(model).ToList();
        var hooks = layers.Select(l => l.ForwardHook).ToList();
        bool wasTraining = model.Training;
        try
        {
            foreach (var l in layers)
                l.ForwardHook = (layer, _, y) => result[layer] = y.Rank == 4 ? (long)y.Shape[2] * y.Shape[3] : 1;
            model.Eval();
            using var scope = BufferScope.Begin();
            using var _ = Autograd.NoGrad();
            model.ForwardAll(Tensor.Zeros(new[] { 1 }.Concat(inputShape).ToArray()));
        }
        finally
        {
            for (int i = 0; i < layers.Count; i++) layers[i].ForwardHook = hooks[i];
            model.Train(wasTraining);
        }
        return result;
    }
}
