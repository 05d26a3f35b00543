namespace MtlPrune.Pruning;

/// <summary>One global ranking over every target, keeping the N − round(S·N) highest scores (ties: earlier weights).</summary>
public static class GlobalTopK
{
    /// <param name="ctx">The model, its pruning targets and the sparsity to reach.</param>
    /// <param name="scores">Per target, finite non-negative scores.</param>
    /// <param name="name">The method's name, recorded in the result.</param>
    public static PruningResult Prune(PruningContext ctx, IReadOnlyList<float[]?> scores, string name)
    {
        var builder = new TaskMaskBuilder(ctx.Targets, new[] { "all" }, new[] { scores }, Fusion.Or);
        long n = builder.TotalNumel, keep = n - (long)Math.Round(ctx.Sparsity * n);
        var masks = builder.Build(new[] { keep });
        return new PruningResult(masks, new Dictionary<string, object?> { ["kept"] = keep, ["ranking"] = name });
    }
}
