using MtlPrune.Engine;

namespace MtlPrune.Pruning.Methods;

/// <summary>
/// Magnitude pruning of the pre-trained weights. Global (~ <c>prune.global_unstructured</c> with <c>L1Unstructured</c>; the
/// "LTH" baseline of the CUT code, methods.md §1.8): prune the round(S·N) weights of smallest |W| over all targets at
/// once. Per layer (~ <c>prune.l1_unstructured</c> on each layer): prune round(S·n) of each layer's n weights.
/// With <c>filters</c>, whole output filters go by their L1 norm (Li et al.'s filter pruning, the usual structured
/// baseline): globally by L1 norm per weight, or per layer round(S·filters) of each layer's filters; their channels are
/// made exactly zero as <see cref="FilterPruning"/> does for structured CUT, and task output layers stay whole.
/// </summary>
public sealed class MagnitudePruning(bool perLayer = false, bool filters = false) : IPruningMethod
{
    public string Name => "magnitude";
    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?>
        { ["scope"] = perLayer ? "layer" : "global", ["granularity"] = filters ? "filter" : "weight" };

    public PruningResult Prune(PruningContext ctx)
    {
        var scores = ctx.Targets.Select(t => (float[]?)t.Weight.ToArray().Select(MathF.Abs).ToArray()).ToList();
        if (filters && perLayer)
        {
            // Each layer loses round(S · filters) of its filters of smallest L1 norm (output layers none).
            var outputs = Deploy.ModelLowering.OutputLayers(ctx.Model);
            var byLayer = new MaskSet();
            foreach (var (t, i) in ctx.Targets.Select((t, i) => (t, i)))
            {
                int f = t.Weight.Shape[0], per = t.Numel / f;
                var m = new float[t.Numel];
                Array.Fill(m, 1f);
                if (!outputs.Contains(t.Name[..^".weight".Length]))
                {
                    var norms = Enumerable.Range(0, f).Select(k => (Norm: scores[i]!.AsSpan(k * per, per).ToArray().Sum(), Index: k)).OrderBy(x => x.Norm).ThenBy(x => x.Index).ToList();
                    foreach (var (_, k) in norms.Take((int)Math.Round(ctx.Sparsity * f))) m.AsSpan(k * per, per).Clear();
                }
                byLayer.Set(t.Name, Tensor.FromArray(m, t.Weight.Shape));
            }
            int pruned = FilterPruning.ChannelMasks(ctx.Model, byLayer, ctx.Targets);
            return new PruningResult(byLayer, new Dictionary<string, object?> { ["scope"] = "layer", ["granularity"] = "filter", ["prunedFilters"] = pruned });
        }
        if (filters)
        {
            var perTask = new[] { scores.ToArray() };
            FilterPruning.SumPerFilter(perTask, ctx.Targets, Deploy.ModelLowering.OutputLayers(ctx.Model));
            var r = GlobalTopK.Prune(ctx, perTask[0].ToList(), "magnitude");
            var whole = FilterPruning.RoundToFilters(r.Masks, ctx.Targets);
            var details = new Dictionary<string, object?>(r.Details) { ["prunedFilters"] = FilterPruning.ChannelMasks(ctx.Model, whole, ctx.Targets) };
            return new PruningResult(whole, details);
        }
        if (!perLayer) return GlobalTopK.Prune(ctx, scores, "magnitude");
        var masks = new MaskSet();
        for (int i = 0; i < ctx.Targets.Count; i++)
        {
            var one = new[] { ctx.Targets[i] };
            var b = new TaskMaskBuilder(one, new[] { "layer" }, new[] { (IReadOnlyList<float[]?>)new[] { scores[i] } }, Fusion.Or);
            long n = ctx.Targets[i].Numel;
            masks.Set(ctx.Targets[i].Name, b.Build(new[] { n - (long)Math.Round(ctx.Sparsity * n) }).Masks[ctx.Targets[i].Name]);
        }
        return new PruningResult(masks, new Dictionary<string, object?> { ["scope"] = "layer" });
    }
}
