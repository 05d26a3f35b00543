using MtlPrune.Engine;

namespace MtlPrune.Pruning;

/// <summary>
/// Turns per-task importance scores into masks (methods.md §1.3-1.4): for each task k a global top-γ_k over its
/// sub-model (the backbone and its own head), γ_k = ⌊n_k · r⌋ for keep ratio r; the backbone keeps what the
/// <see cref="Fusion"/> of the tasks' decisions keeps, and each head keeps its own task's top-γ_k. Ties are broken by
/// position (earlier weights first), so the result is deterministic. A single "task" spanning every target gives plain
/// global top-k pruning (magnitude, random, SNIP).
/// </summary>
public sealed class TaskMaskBuilder
{
    private readonly IReadOnlyList<PrunableTensor> _targets;
    private readonly IReadOnlyList<string> _tasks;
    private readonly Fusion _fusion;
    private readonly int _threshold;
    // _rank[k][i][e]: the position of element e of target i in task k's descending order, or null when target i is not
    // in task k's sub-model.
    private readonly int[]?[][] _rank;
    private readonly long[] _domainSize;

    /// <param name="targets">The tensors pruned.</param>
    /// <param name="tasks">The kept tasks.</param>
    /// <param name="scores">Per task (in <paramref name="tasks"/> order), per target: the element scores, or null when the
    /// target is outside the task's sub-model. Scores must be finite and non-negative.</param>
    /// <param name="fusion">How the tasks' backbone masks are combined (OR, AND, vote).</param>
    public TaskMaskBuilder(IReadOnlyList<PrunableTensor> targets, IReadOnlyList<string> tasks, IReadOnlyList<IReadOnlyList<float[]?>> scores, Fusion fusion)
    {
        if (tasks.Count == 0) throw new ArgumentException("At least one task is needed.");
        if (scores.Count != tasks.Count) throw new ArgumentException($"{scores.Count} score sets for {tasks.Count} tasks.");
        _targets = targets; _tasks = tasks; _fusion = fusion; _threshold = fusion.Threshold(tasks.Count);
        _rank = new int[]?[tasks.Count][];
        _domainSize = new long[tasks.Count];
        for (int k = 0; k < tasks.Count; k++)
        {
            if (scores[k].Count != targets.Count) throw new ArgumentException($"Task '{tasks[k]}' has scores for {scores[k].Count} tensors, expected {targets.Count}.");
            _rank[k] = Rank(targets, scores[k], tasks[k], out _domainSize[k]);
        }
        foreach (var (t, i) in targets.Select((t, i) => (t, i)))
            if (Enumerable.Range(0, tasks.Count).All(k => _rank[k][i] is null))
                throw new ArgumentException($"Tensor '{t.Name}' is in no task's sub-model.");
    }

    public IReadOnlyList<string> Tasks => _tasks;
    public long TotalNumel => _targets.Sum(t => (long)t.Numel);

    /// <summary>γ_k for keep ratio <paramref name="r"/>: ⌊n_k · r⌋ as in the reference code (<c>int(n × keep_ratio)</c>).</summary>
    public long KeepCount(int task, double r) => (long)Math.Floor(_domainSize[task] * Math.Clamp(r, 0, 1));

    /// <summary>Kept weights of the fused model at keep ratio <paramref name="r"/> (without building masks).</summary>
    public long CountKept(double r)
    {
        var gamma = Enumerable.Range(0, _tasks.Count).Select(k => KeepCount(k, r)).ToArray();
        long kept = 0;
        for (int i = 0; i < _targets.Count; i++)
        {
            int n = _targets[i].Numel;
            for (int e = 0; e < n; e++)
                if (Decide(i, e, gamma)) kept++;
        }
        return kept;
    }

    /// <summary>The fused masks at keep ratio <paramref name="r"/>.</summary>
    public MaskSet Build(double r) => Build(Enumerable.Range(0, _tasks.Count).Select(k => KeepCount(k, r)).ToArray());

    /// <summary>The fused masks when task k keeps its <paramref name="gamma"/>[k] best weights.</summary>
    public MaskSet Build(long[] gamma)
    {
        if (gamma.Length != _tasks.Count) throw new ArgumentException($"{gamma.Length} keep counts for {_tasks.Count} tasks.");
        var set = new MaskSet();
        for (int i = 0; i < _targets.Count; i++)
        {
            var m = new float[_targets[i].Numel];
            for (int e = 0; e < m.Length; e++) m[e] = Decide(i, e, gamma) ? 1f : 0f;
            set.Set(_targets[i].Name, Tensor.FromArray(m, _targets[i].Weight.Shape));
        }
        return set;
    }

    /// <summary>Kept weights of each task's own (unfused) mask over its sub-model at keep ratio <paramref name="r"/>.</summary>
    public IReadOnlyDictionary<string, long> PerTaskKept(double r) => Enumerable.Range(0, _tasks.Count).ToDictionary(k => _tasks[k], k => KeepCount(k, r));

    private bool Decide(int i, int e, long[] gamma)
    {
        if (_targets[i].Role.IsShared)
        {
            int votes = 0;
            for (int k = 0; k < gamma.Length; k++)
                if (_rank[k][i] is { } rk && rk[e] < gamma[k]) votes++;
            return votes >= _threshold;
        }
        for (int k = 0; k < gamma.Length; k++)
            if (_rank[k][i] is { } rk) return rk[e] < gamma[k];
        return false;
    }

    /// <summary>Ranks the elements of one task's sub-model by descending score, ties by position.</summary>
    private static int[]?[] Rank(IReadOnlyList<PrunableTensor> targets, IReadOnlyList<float[]?> scores, string task, out long n)
    {
        n = 0;
        for (int i = 0; i < targets.Count; i++)
        {
            if (scores[i] is not { } s) continue;
            if (s.Length != targets[i].Numel) throw new ArgumentException($"Scores of '{targets[i].Name}' for task '{task}' have {s.Length} values, the tensor has {targets[i].Numel}.");
            n += s.Length;
        }
        if (n > int.MaxValue) throw new ArgumentException($"Task '{task}' spans {n} weights, more than one ranking supports (2^31 - 1).");
        // Key: bits of the non-negative score, inverted so that ascending order is descending score, then position.
        var keys = new ulong[n];
        int pos = 0;
        for (int i = 0; i < targets.Count; i++)
        {
            if (scores[i] is not { } s) continue;
            for (int e = 0; e < s.Length; e++, pos++)
            {
                float v = s[e];
                if (!float.IsFinite(v) || v < 0) throw new ArgumentException($"Score {v} of '{targets[i].Name}' element {e} for task '{task}' is not a finite non-negative number.");
                uint bits = BitConverter.SingleToUInt32Bits(v + 0f);      // + 0 turns −0 into +0
                keys[pos] = ((ulong)(uint.MaxValue - bits) << 32) | (uint)pos;
            }
        }
        Array.Sort(keys);
        var flatRank = new int[n];
        for (int p = 0; p < keys.Length; p++) flatRank[(int)(keys[p] & 0xFFFF_FFFF)] = p;
        var rank = new int[]?[targets.Count];
        pos = 0;
        for (int i = 0; i < targets.Count; i++)
        {
            if (scores[i] is not { } s) continue;
            rank[i] = flatRank.AsSpan(pos, s.Length).ToArray();
            pos += s.Length;
        }
        return rank;
    }
}
