namespace MtlPrune.Pruning.Methods;

/// <summary>Options of <see cref="Imp"/>.</summary>
public sealed record ImpOptions
{
    /// <summary>Fraction of the remaining weights each round removes (DiSparse's PRUNE_RATE 0.5; AdapMTL's pruning.py takes it as p).</summary>
    public double Rate { get; init; } = 0.5;
    /// <summary>Fine-tuning steps after each round (null: the fine-tune length).</summary>
    public int? StepsPerRound { get; init; }
}

/// <summary>
/// Iterative magnitude pruning (Han et al., NeurIPS 2015; methods.md §4, §2.7): starting from the trained weights, each
/// round removes the fraction p of the remaining weights with the smallest |W| over all targets (global, as AdapMTL's
/// pruning.py), then fine-tunes with the masks enforced; the last round stops exactly at the target sparsity.
/// </summary>
public sealed class Imp(ImpOptions options) : IPruningMethod
{
    public string Name => "imp";
    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?> { ["rate"] = options.Rate, ["stepsPerRound"] = options.StepsPerRound };

    public PruningResult Prune(PruningContext ctx)
    {
        if (!(options.Rate > 0 && options.Rate < 1)) throw new ArgumentException($"--imp-rate must be in (0, 1), got {options.Rate}.");
        long n = ctx.Targets.Sum(t => (long)t.Numel);
        double density = 1, target = 1 - ctx.Sparsity;
        int steps = ctx.Scaled(options.StepsPerRound ?? ctx.Training?.Iterations ?? 1000);
        var rounds = new List<double>();
        MaskSet masks = new();
        while (density > target + 1e-12)
        {
            density = Math.Max(target, density * (1 - options.Rate));
            long keep = (long)Math.Round(n * density);
            var current = MaskSet.FromModel(ctx.Model);
            // Survivors rank by |W|; pruned weights (exactly 0) rank below every survivor, even a survivor that is 0.
            var scores = ctx.Targets.Select(t =>
            {
                var w = t.Weight.ToArray();
                var m = current.TryGet(t.Name, out var mt) ? mt.ToArray() : null;
                return (float[]?)w.Select((v, i) => m is not null && m[i] == 0 ? 0f : MathF.Abs(v) + float.Epsilon).ToArray();
            }).ToList();
            var b = new TaskMaskBuilder(ctx.Targets, new[] { "all" }, new[] { scores }, Fusion.Or);
            masks = b.Build(new[] { keep });
            masks.Apply(ctx.Model);
            rounds.Add(1 - density);
            ctx.Log?.Invoke($"imp round {rounds.Count}: {1 - density:P1} sparsity, then {steps} fine-tuning steps");
            ctx.Train(new TrainingPhase($"imp-round{rounds.Count}", steps));
        }
        return new PruningResult(masks, new Dictionary<string, object?> { ["rounds"] = rounds, ["stepsPerRound"] = steps }) { Trained = true };
    }
}
