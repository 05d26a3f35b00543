using System.Diagnostics;

namespace MtlPrune.Engine;

/// <summary>
/// Per-op time accounting for forward and backward passes (off by default; negligible cost when off). Forward time
/// is attributed to each recorded op as the time since the previous recorded op finished on this thread, so glue code
/// between ops is charged to the next op. Backward time is measured around each op's backward step.
/// </summary>
public static class OpProfiler
{
    private static readonly Dictionary<string, (double Ms, int Calls)> Forward = new(), Backward = new();
    [ThreadStatic] private static long _last;
    [ThreadStatic] internal static bool InBackward;

    /// <summary>Whether ops are being timed.</summary>
    public static bool Enabled { get; private set; }

    /// <summary>Starts a fresh profile.</summary>
    public static void Start() { lock (Forward) { Forward.Clear(); Backward.Clear(); } Enabled = true; _last = Stopwatch.GetTimestamp(); }

    /// <summary>Stops timing and returns (op, pass, total ms, calls), slowest first.</summary>
    public static List<(string Op, string Pass, double Ms, int Calls)> Stop()
    {
        Enabled = false;
        lock (Forward)
            return Forward.Select(kv => (kv.Key, "forward", kv.Value.Ms, kv.Value.Calls))
                .Concat(Backward.Select(kv => (kv.Key, "backward", kv.Value.Ms, kv.Value.Calls)))
                .OrderByDescending(r => r.Item3).ToList();
    }

    /// <summary>Marks the start of a region not to be charged to the next op (e.g. after setup).</summary>
    public static void Mark() => _last = Stopwatch.GetTimestamp();

    internal static void RecordForward(string op)
    {
        if (InBackward) return; // ops run inside a backward step are charged to that step
        long now = Stopwatch.GetTimestamp();
        Add(Forward, op, Stopwatch.GetElapsedTime(_last, now).TotalMilliseconds);
        _last = now;
    }

    internal static void RecordBackward(string op, long start) =>
        Add(Backward, op, Stopwatch.GetElapsedTime(start).TotalMilliseconds);

    private static void Add(Dictionary<string, (double, int)> d, string op, double ms)
    {
        lock (Forward)
        {
            d.TryGetValue(op, out var v);
            d[op] = (v.Item1 + ms, v.Item2 + 1);
        }
    }
}
