using System.Globalization;
using MtlPrune.Data;
using MtlPrune.Models;
using MtlPrune.Training;

namespace MtlPrune.Pruning.Methods;

/// <summary>Options of <see cref="LotteryTicket"/>.</summary>
public sealed record LotteryTicketOptions
{
    /// <summary><c>init</c> (θ₀, Frankle &amp; Carbin) or a step k (rewinding to θ_k, replaying the dense training's first k steps).</summary>
    public string Rewind { get; init; } = "init";
    /// <summary>Retraining steps (null: the dense training's length).</summary>
    public int? Iterations { get; init; }
}

/// <summary>
/// The lottery ticket (Frankle &amp; Carbin, ICLR 2019; methods.md §4, §2.9): global magnitude pruning of the trained model
/// to the target, then the surviving weights are rewound — to their initial values θ₀, or to θ_k of iteration k — and the
/// masked network is retrained like the dense model. MtlPrune's training is seeded, so θ₀ is rebuilt exactly from the
/// checkpoint's recorded configuration (all its heads, then the kept ones taken), and θ_k by replaying the dense
/// training's first k steps, which is bit-identical. A checkpoint without a recorded configuration (an import) rewinds to a
/// fresh initialisation instead, and says so.
/// </summary>
public sealed class LotteryTicket(LotteryTicketOptions options) : IPruningMethod
{
    public string Name => "lth";
    public IReadOnlyDictionary<string, object?> Options => new Dictionary<string, object?> { ["rewind"] = options.Rewind, ["iterations"] = options.Iterations };

    public PruningResult Prune(PruningContext ctx)
    {
        int k = options.Rewind == "init" ? 0 : int.TryParse(options.Rewind, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v
            : throw new ArgumentException($"--rewind must be init or a positive step, got '{options.Rewind}'.");
        var scores = ctx.Targets.Select(t => (float[]?)t.Weight.ToArray().Select(MathF.Abs).ToArray()).ToList();
        var masks = GlobalTopK.Prune(ctx, scores, "magnitude").Masks;
        string rewoundTo;
        if (ctx.Source is { } src && ctx.SourceSpec is { } spec)
        {
            var full = ModelFactory.Build(spec, src.Seed);
            if (k > 0)
            {
                var replay = src.Clone();
                replay.Iterations = k; replay.EvalEvery = k;
                replay.Output = Path.Combine(ctx.Training?.Output ?? Path.GetTempPath(), "..", "phases", "lth-replay");
                var (train, val) = replay.OpenData();
                ctx.Log?.Invoke($"lth: replaying the dense training's first {k} steps to rewind to θ_{k}");
                new TrainingLoop(full, train, val, replay).Run();
            }
            var kept = full.SelectTasks(ctx.Model.Tasks.Select(t => t.Name).ToArray());
            ctx.Model.LoadStateDict(kept.StateDict());
            rewoundTo = k == 0 ? "θ₀, the dense model's own initialisation" : $"θ_{k}, replayed from the dense training";
        }
        else
        {
            if (k > 0) throw new ArgumentException("--rewind to a step needs the dense training's recorded configuration, which this checkpoint lacks.");
            ctx.Reinitialize(ctx.Seed + 7);
            rewoundTo = "a fresh initialisation (the checkpoint does not record its own)";
        }
        ctx.Log?.Invoke($"lth: surviving weights rewound to {rewoundTo}");
        masks.Apply(ctx.Model);
        var phase = ctx.FromScratch("lth");
        if (options.Iterations is int n) phase = phase with { Iterations = ctx.Scaled(n) };
        var r = ctx.Train(phase);
        return new PruningResult(masks, new Dictionary<string, object?> { ["rewoundTo"] = rewoundTo, ["trainingSteps"] = r.Steps, ["bestStep"] = r.BestStep })
        { Trained = true };
    }
}
