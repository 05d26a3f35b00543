using MtlPrune.Engine;

namespace MtlPrune.Pruning.Methods;

/// <summary>
/// Magnitude pruning of the pre-trained weights. Global (~ <c>prune.global_unstructured</c> with <c>L1Unstructured</c>; the
/// "LTH" baseline of the CUT code, methods.md §1.8): prune the round(S·N) weights of smallest |W| over all targets at
/// once. Per layer (~ <c>prune.l1_unstructured</c> on each layer): prune round(S·n) of each layer's n weights.
/// </summary>
public sealed class MagnitudePruning(bool perLayer = false) : IPruningMethod
{
    public string Name => "magnitude";
    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?> { ["scope"] = perLayer ? "layer" : "global" };

    public PruningResult Prune(PruningContext ctx)
    {
        var scores = ctx.Targets.Select(t => (float[]?)t.Weight.ToArray().Select(MathF.Abs).ToArray()).ToList();
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
