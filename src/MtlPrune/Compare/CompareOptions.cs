using MtlPrune.Pruning;

namespace MtlPrune.Compare;

/// <summary>
/// A comparison sweep: every method at every sparsity for every seed, on one dense checkpoint and its data. The
/// <see cref="Template"/> carries the checkpoint, kept tasks, data and fine-tune settings shared by all runs; its
/// <see cref="PruneOptions.Output"/> is the sweep's root directory.
/// </summary>
public sealed record CompareOptions
{
    public required PruneOptions Template { get; init; }
    public required MethodSettings Settings { get; init; }
    public required IReadOnlyList<string> Methods { get; init; }
    public required IReadOnlyList<double> Sparsities { get; init; }
    public int Seeds { get; init; } = 1;
    /// <summary>CUT's fusion: a rule, or <c>auto</c>: run or, and and vote, keep the best on the validation split, report all three.</summary>
    public string Fusion { get; init; } = "auto";

    /// <exception cref="ArgumentException">An unknown method, a sparsity outside (0, 1), or no seeds.</exception>
    public void Validate()
    {
        if (Methods.Count == 0) throw new ArgumentException("--methods must name at least one method.");
        foreach (var m in Methods)
            if (!PruningMethods.Names.Contains(m)) throw new ArgumentException($"--methods: unknown method '{m}' ({string.Join(", ", PruningMethods.Names)}).");
        if (Sparsities.Count == 0) throw new ArgumentException("--sparsity must list at least one level.");
        foreach (var s in Sparsities) if (!(s > 0 && s < 1)) throw new ArgumentException($"--sparsity levels must be in (0, 1), got {s}.");
        if (Seeds < 1) throw new ArgumentException($"--seeds must be at least 1, got {Seeds}.");
        if (Fusion != "auto") Pruning.Fusion.Parse(Fusion);
        Template.Validate();
    }
}
