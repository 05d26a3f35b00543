namespace MtlPrune.Bench;

/// <summary>One benchmark row: what was run, its timing, and its throughput against the peak measured in the same run.</summary>
public sealed record BenchResult(string Group, string Name, double MedianMs, double MinMs, double MaxMs, int Runs,
    double? Gflops, double? PeakFraction, double? GBytesPerSecond, long AllocatedBytesPerRun, long PeakWorkingSetBytes, string? Goal, bool? GoalMet,
    double? GoalPeakFraction = null);
