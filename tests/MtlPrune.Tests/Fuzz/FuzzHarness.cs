using System.Buffers.Binary;
using System.Diagnostics;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;

namespace MtlPrune.Tests.Fuzz;

/// <summary>What a fuzz run saw.</summary>
public sealed record FuzzReport(string Reader, int Runs, int Parsed, int Rejected, IReadOnlyDictionary<string, int> ByMutation, double MaxMilliseconds, long MaxAllocatedBytes,
    IReadOnlyList<string> Failures)
{
    public override string ToString() =>
        $"{Reader}: {Runs} mutated inputs → {Parsed} parsed, {Rejected} refused with a clear error, {Failures.Count} failures; " +
        $"slowest {MaxMilliseconds:F1} ms, most allocated {MaxAllocatedBytes / 1024.0:F0} KiB; mutations: {string.Join(", ", ByMutation.Select(kv => $"{kv.Key} {kv.Value}"))}";
}

/// <summary>
/// Mutation fuzzing of a reader. From a valid sample it makes seeded variants — truncations, byte flips in the header,
/// in the tail and in the body, insertions, deletions, duplicated ranges, and 2/4/8-byte fields set to extremes — and
/// requires that each either parses or is refused with the reader's clear error (by default a
/// <see cref="ModelFormatException"/> whose message starts with the source's name). Anything else fails the run: another exception type, an input taking longer than the time bound
/// (a hang), or an input making the reader allocate more than the allocation bound. Failures name the input's index
/// and mutation, so the same seed reproduces them.
/// </summary>
public static class FuzzHarness
{
    /// <param name="parse">Parses one input; <paramref name="source"/> is the name errors must start with.</param>
    /// <param name="allocationBound">The most a parse may allocate for an input of the given length, in bytes.</param>
    /// <param name="clear">Whether an exception is the reader's documented, clear refusal (default: a <see cref="ModelFormatException"/>
    /// whose message starts with <paramref name="source"/>; text formats such as configs use <see cref="FormatException"/>).</param>
    public static FuzzReport Run(string reader, byte[] sample, Action<byte[], string> parse, int runs, ulong seed, Func<int, long> allocationBound,
        TimeSpan? perInput = null, string source = "fuzz-input", Func<Exception, string, bool>? clear = null)
    {
        clear ??= (e, src) => e is ModelFormatException && e.Message.StartsWith(src);
        var limit = perInput ?? TimeSpan.FromSeconds(5);
        var rng = new Rng(seed);
        int parsed = 0, rejected = 0;
        double maxMs = 0; long maxAlloc = 0;
        var failures = new List<string>();
        var byMutation = new Dictionary<string, int>();
        for (int i = 0; i < runs && failures.Count < 10; i++)
        {
            var (input, mutation) = Mutate(sample, rng);
            byMutation[mutation] = byMutation.GetValueOrDefault(mutation) + 1;
            long allocated = 0; Exception? error = null;
            var sw = Stopwatch.StartNew();
            var task = Task.Factory.StartNew(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try { parse(input, source); }
                catch (Exception e) { error = e; }
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }, TaskCreationOptions.LongRunning);
            if (!task.Wait(limit)) { failures.Add($"#{i} ({mutation}): no result after {limit.TotalSeconds} s (hang)"); break; }
            maxMs = Math.Max(maxMs, sw.Elapsed.TotalMilliseconds);
            maxAlloc = Math.Max(maxAlloc, allocated);
            if (allocated > allocationBound(input.Length)) failures.Add($"#{i} ({mutation}): allocated {allocated} bytes for a {input.Length}-byte input (bound {allocationBound(input.Length)})");
            if (error is null) parsed++;
            else if (clear(error, source)) rejected++;
            else failures.Add($"#{i} ({mutation}): {error.GetType().Name}: {error.Message}");
        }
        return new FuzzReport(reader, parsed + rejected + failures.Count, parsed, rejected, byMutation, maxMs, maxAlloc, failures);
    }

    /// <summary>One seeded mutation of <paramref name="s"/> and its name.</summary>
    public static (byte[] Input, string Mutation) Mutate(byte[] s, Rng rng)
    {
        int Pick(int n) => (int)(rng.NextUInt64() % (ulong)Math.Max(n, 1));
        var b = (byte[])s.Clone();
        switch (Pick(9))
        {
            case 0: return (s[..Pick(s.Length)], "truncate");
            case 1: for (int k = 1 + Pick(8); k > 0; k--) b[Pick(b.Length)] ^= (byte)(1 + Pick(255)); return (b, "flip body");
            case 2: for (int k = 1 + Pick(4); k > 0; k--) b[Pick(Math.Min(b.Length, 256))] ^= (byte)(1 + Pick(255)); return (b, "flip header");
            case 3: for (int k = 1 + Pick(4); k > 0; k--) b[b.Length - 1 - Pick(Math.Min(b.Length, 256))] ^= (byte)(1 + Pick(255)); return (b, "flip tail");
            case 4:
                {
                    int at = Pick(s.Length + 1), n = 1 + Pick(16);
                    var ins = new byte[n]; for (int k = 0; k < n; k++) ins[k] = (byte)Pick(256);
                    return ([.. s[..at], .. ins, .. s[at..]], "insert");
                }
            case 5: { int at = Pick(s.Length), n = 1 + Pick(Math.Min(64, s.Length - at)); return ([.. s[..at], .. s[(at + n)..]], "delete"); }
            case 6: { int at = Pick(s.Length), n = 1 + Pick(Math.Min(256, s.Length - at)); int to = Pick(s.Length); return ([.. s[..to], .. s.AsSpan(at, n), .. s[to..]], "duplicate"); }
            default:
                {
                    int width = new[] { 2, 4, 8 }[Pick(3)];
                    if (s.Length < width) return (b, "field");
                    int at = Pick(s.Length - width + 1);
                    ulong v = Pick(6) switch { 0 => 0, 1 => ulong.MaxValue, 2 => (ulong)int.MaxValue, 3 => 0x80000000, 4 => (ulong)s.Length * 2, _ => rng.NextUInt64() };
                    var span = b.AsSpan(at, width);
                    if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)v);
                    else if (width == 4) BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)v);
                    else BinaryPrimitives.WriteUInt64LittleEndian(span, v);
                    return (b, $"field{width * 8}");
                }
        }
    }
}
