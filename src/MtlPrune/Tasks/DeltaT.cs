namespace MtlPrune.Tasks;

/// <summary>How ΔT combines a task's metrics (methods.md §5.4).</summary>
public enum DeltaTMode
{
    /// <summary>AdapMTL: sum over the task's metrics, then mean over tasks.</summary>
    SumPerTask,
    /// <summary>Maninis / Vandenhende / LibMTL: mean over the task's metrics, then mean over tasks.</summary>
    MeanPerTask,
}

/// <summary>Relative multi-task performance against a named baseline, per task and overall, in percent.</summary>
public sealed record DeltaTResult(double Overall, IReadOnlyDictionary<string, double> PerTask, DeltaTMode Mode);

/// <summary>
/// ΔT_i = Σ_j (−1)^{l_j}·(M_ij − B_ij)/B_ij·100 over the metrics j of task i, with l_j = 1 for lower-is-better
/// metrics; ΔT = mean_i ΔT_i. <see cref="DeltaTMode.MeanPerTask"/> divides each ΔT_i by its metric count.
/// </summary>
public static class DeltaT
{
    /// <summary>Computes ΔT of <paramref name="results"/> against <paramref name="baseline"/> (task → metric → value).</summary>
    /// <param name="results">The model's metrics, task → metric → value.</param>
    /// <param name="baseline">The baseline's metrics, same shape.</param>
    /// <param name="metricInfo">Per task, each metric's direction (higher or lower is better).</param>
    /// <param name="mode">Whether ΔT_i sums or averages a task's metrics.</param>
    /// <param name="skipZeroBaseline">Leave out metrics whose baseline value is 0 (the relative change is undefined)
    /// instead of throwing; the trainer uses this when its baseline is an early, untrained evaluation.</param>
    /// <exception cref="ArgumentException">A task or metric of the results is missing from the baseline, or a baseline value is 0 and <paramref name="skipZeroBaseline"/> is false.</exception>
    public static DeltaTResult Compute(
        IReadOnlyDictionary<string, Dictionary<string, double>> results,
        IReadOnlyDictionary<string, Dictionary<string, double>> baseline,
        IReadOnlyDictionary<string, IReadOnlyList<MetricInfo>> metricInfo,
        DeltaTMode mode = DeltaTMode.SumPerTask, bool skipZeroBaseline = false)
    {
        var per = new Dictionary<string, double>();
        foreach (var (task, metrics) in results)
        {
            if (!baseline.TryGetValue(task, out var b)) throw new ArgumentException($"ΔT: baseline has no task '{task}'.");
            double sum = 0; int count = 0;
            foreach (var info in metricInfo[task])
            {
                if (!metrics.TryGetValue(info.Name, out var m)) continue;
                if (!b.TryGetValue(info.Name, out var bv)) throw new ArgumentException($"ΔT: baseline task '{task}' has no metric '{info.Name}'.");
                if (bv == 0 && skipZeroBaseline) continue;
                if (bv == 0) throw new ArgumentException($"ΔT: baseline value of {task}.{info.Name} is 0, so the relative change is undefined.");
                double rel = (m - bv) / bv * 100;
                sum += info.HigherIsBetter ? rel : -rel;
                count++;
            }
            per[task] = mode == DeltaTMode.MeanPerTask && count > 0 ? sum / count : sum;
        }
        return new DeltaTResult(per.Count > 0 ? per.Values.Average() : 0, per, mode);
    }
}
