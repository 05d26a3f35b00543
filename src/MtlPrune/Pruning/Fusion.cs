namespace MtlPrune.Pruning;

/// <summary>How the selected tasks' keep-masks of a shared weight are combined (methods.md §1.4).</summary>
public enum FusionKind
{
    /// <summary>Keep a weight if any task keeps it (DiSparse's "unanimous pruning decision": prune only if all agree).</summary>
    Or,
    /// <summary>Keep a weight only if every task keeps it.</summary>
    And,
    /// <summary>Keep a weight if at least τ tasks keep it.</summary>
    Vote,
}

/// <summary>
/// A backbone fusion rule. <c>or</c>: m = ∨_k m_k; <c>and</c>: m = ∧_k m_k; <c>vote:τ</c>: m = [Σ_k m_k ≥ τ], with τ
/// defaulting to ⌊K/2⌋ + 1 (a strict majority). The CUT reference code runs vote with τ = 2 hard-coded, which equals
/// the majority for K = 2 and 3 tasks (and AND for K = 2).
/// </summary>
public sealed record Fusion(FusionKind Kind, int? Tau = null)
{
    public static readonly Fusion Or = new(FusionKind.Or);
    public static readonly Fusion And = new(FusionKind.And);
    public static readonly Fusion Majority = new(FusionKind.Vote);

    /// <summary>Parses <c>or</c>, <c>and</c>, <c>vote</c> or <c>vote:&lt;τ&gt;</c>.</summary>
    /// <exception cref="ArgumentException">Anything else, or τ &lt; 1.</exception>
    public static Fusion Parse(string s)
    {
        var t = s.Trim().ToLowerInvariant();
        if (t == "or") return Or;
        if (t == "and") return And;
        if (t == "vote") return Majority;
        if (t.StartsWith("vote:") && int.TryParse(t[5..], out int tau))
            return tau >= 1 ? new Fusion(FusionKind.Vote, tau) : throw new ArgumentException($"--fusion: vote threshold must be at least 1, got {tau}.");
        throw new ArgumentException($"--fusion: '{s}' is not or, and, vote or vote:<tau>.");
    }

    /// <summary>How many of <paramref name="tasks"/> tasks must keep a shared weight.</summary>
    /// <exception cref="ArgumentException">τ exceeds the number of tasks.</exception>
    public int Threshold(int tasks)
    {
        if (tasks < 1) throw new ArgumentException("Fusion needs at least one task.");
        int t = Kind switch { FusionKind.Or => 1, FusionKind.And => tasks, _ => Tau ?? tasks / 2 + 1 };
        if (t > tasks) throw new ArgumentException($"--fusion vote:{t} needs at least {t} tasks, but {tasks} are selected.");
        return t;
    }

    /// <summary>The fused decision for a weight kept by <paramref name="keptBy"/> of <paramref name="tasks"/> tasks.</summary>
    public bool Keep(int keptBy, int tasks) => keptBy >= Threshold(tasks);

    /// <summary>The canonical spelling, with τ resolved for <paramref name="tasks"/> tasks when given.</summary>
    public string ToString(int? tasks) => Kind switch
    {
        FusionKind.Or => "or",
        FusionKind.And => "and",
        _ => Tau is int t ? $"vote:{t}" : tasks is int k ? $"vote:{k / 2 + 1}" : "vote",
    };

    public override string ToString() => ToString(null);
}
