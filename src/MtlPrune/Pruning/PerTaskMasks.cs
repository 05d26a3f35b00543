namespace MtlPrune.Pruning;

/// <summary>
/// The step CUT and DiSparse share (methods.md §1.3-1.4, §3.1): per-task scores over each task's sub-model → per-task
/// global top-k → fusion of the backbone masks, each head keeping its own task's mask; the keep ratio solved so that the
/// fused model has the requested sparsity, or fixed.
/// </summary>
public static class PerTaskMasks
{
    /// <summary>The masks and what to report (fusion, keep ratio and where it came from, solver iterations, per-task counts).</summary>
    /// <param name="ctx">The model, its pruning targets and the sparsity to reach.</param>
    /// <param name="tasks">The kept tasks.</param>
    /// <param name="scores">Per task (in <paramref name="tasks"/> order), per target: finite non-negative scores, or null outside the task's sub-model.</param>
    /// <param name="fusion">How the tasks' backbone masks are combined (OR, AND, vote).</param>
    /// <param name="keepRatio">Each task's keep ratio, fixed; null: solved so that the fused model has the requested sparsity.</param>
    public static (MaskSet Masks, Dictionary<string, object?> Details) Build(PruningContext ctx, IReadOnlyList<string> tasks,
        IReadOnlyList<IReadOnlyList<float[]?>> scores, Fusion fusion, double? keepRatio)
    {
        if (keepRatio is double kr && !(kr > 0 && kr <= 1)) throw new ArgumentException($"--keep-ratio must be in (0, 1], got {kr}.");
        var builder = new TaskMaskBuilder(ctx.Targets, tasks, scores, fusion);
        double r; KeepRatioSolution? solution = null;
        if (keepRatio is double fixedRatio) r = fixedRatio;
        else { solution = KeepRatioSolver.Solve(builder, ctx.Sparsity); r = solution.KeepRatio; }
        var details = new Dictionary<string, object?>
        {
            ["fusion"] = fusion.ToString(tasks.Count), ["keepRatio"] = r, ["keepRatioSource"] = keepRatio is null ? "solved" : "fixed",
            ["solverIterations"] = solution?.Iterations, ["perTaskKept"] = builder.PerTaskKept(r), ["scoredTasks"] = tasks.ToList(),
        };
        return (builder.Build(r), details);
    }

    /// <summary>The kept tasks that have weights among the targets, in model order.</summary>
    public static List<string> Tasks(PruningContext ctx) =>
        ctx.Model.Tasks.Where(t => ctx.Targets.Any(p => p.BelongsTo(t.Name))).Select(t => t.Name).ToList();
}
