namespace MtlPrune.Pruning.Methods;

/// <summary>
/// Global magnitude pruning (~ <c>prune.global_unstructured</c> with <c>L1Unstructured</c>; the "LTH" baseline of the CUT
/// code, methods.md §1.8): prune the round(S·N) weights of smallest |W| over all targets at once.
/// </summary>
public sealed class MagnitudePruning : IPruningMethod
{
    public string Name => "magnitude";
    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?>();

    public PruningResult Prune(PruningContext ctx)
    {
        var scores = ctx.Targets.Select(t => (float[]?)t.Weight.ToArray().Select(MathF.Abs).ToArray()).ToList();
        return GlobalTopK.Prune(ctx, scores, "magnitude");
    }
}
