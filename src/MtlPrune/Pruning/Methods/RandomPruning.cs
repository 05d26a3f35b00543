using MtlPrune.Engine;

namespace MtlPrune.Pruning.Methods;

/// <summary>
/// Random unstructured pruning (the baseline of CUT's and DiSparse's tables; ~ <c>prune.global_unstructured</c> with
/// <c>RandomUnstructured</c>): one global, uniformly random mask over every target that prunes round(S·N) weights.
/// Seeded: the same seed gives the same mask.
/// </summary>
public sealed class RandomPruning : IPruningMethod
{
    public string Name => "random";
    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?>();

    public PruningResult Prune(PruningContext ctx)
    {
        var rng = new Rng(ctx.Seed * 2_654_435_761 + 17);
        var scores = ctx.Targets.Select(t => (float[]?)Enumerable.Range(0, t.Numel).Select(_ => (float)rng.NextDouble()).ToArray()).ToList();
        return GlobalTopK.Prune(ctx, scores, "random");
    }
}
