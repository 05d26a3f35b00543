namespace MtlPrune.Pruning;

/// <summary>The keep ratio the solver chose and what it achieves.</summary>
public sealed record KeepRatioSolution(double KeepRatio, double AchievedSparsity, long Kept, long Total, int Iterations);

/// <summary>
/// Finds the per-task keep ratio r for which the fused model has the requested sparsity over its prunable weights,
/// by bisection (the fused kept count never decreases as r grows, because each task's top-γ set only grows). The
/// reference code hard-codes calibrated ratios per data set instead (methods.md §1.3); this hits the target exactly.
/// </summary>
public static class KeepRatioSolver
{
    /// <summary>Default tolerance: 0.01 percentage points, ten times tighter than the 0.1 points promised.</summary>
    public const double DefaultTolerance = 1e-4;

    /// <summary>The keep ratio whose fused sparsity is closest to <paramref name="sparsity"/>.</summary>
    public static KeepRatioSolution Solve(TaskMaskBuilder builder, double sparsity, double tolerance = DefaultTolerance, int maxIterations = 60)
    {
        if (!(sparsity > 0 && sparsity < 1)) throw new ArgumentException($"--sparsity must be in (0, 1), got {sparsity}.");
        long total = builder.TotalNumel;
        long target = (long)Math.Round(total * (1 - sparsity));
        double lo = 0, hi = 1;
        long keptLo = builder.CountKept(lo), keptHi = builder.CountKept(hi);
        int it = 0;
        (double R, long Kept) best = Math.Abs(keptLo - target) <= Math.Abs(keptHi - target) ? (lo, keptLo) : (hi, keptHi);
        while (it < maxIterations && Math.Abs(best.Kept - target) > tolerance * total)
        {
            double mid = 0.5 * (lo + hi);
            long k = builder.CountKept(mid);
            it++;
            if (Math.Abs(k - target) < Math.Abs(best.Kept - target)) best = (mid, k);
            if (k < target) lo = mid; else hi = mid;
            if (hi - lo < 1e-12) break;
        }
        return new KeepRatioSolution(best.R, 1 - (double)best.Kept / total, best.Kept, total, it);
    }
}
