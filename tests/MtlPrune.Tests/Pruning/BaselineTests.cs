using MtlPrune.Engine;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using MtlPrune.Tasks;
using MtlPrune.Training;

namespace MtlPrune.Tests.Pruning;

/// <summary>Each baseline against the invariant its paper states (training phases recorded, not run).</summary>
public class BaselineTests
{
    private sealed class Recorder
    {
        public readonly List<(TrainingPhase Phase, Dictionary<string, float[]> State, MaskSet Masks)> Calls = new();
        public TrainResult Train(MultiTaskModel model, TrainingPhase phase)
        {
            Calls.Add((phase, model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray()), MaskSet.FromModel(model)));
            return new TrainResult("", "", 0, new Evaluation(new(), new(), new Dictionary<string, IReadOnlyList<MetricInfo>>()),
                new DeltaTResult(0, new Dictionary<string, double>(), DeltaTMode.SumPerTask), TimeSpan.Zero, phase.Iterations);
        }
    }

    private static PruningContext Context(MultiTaskModel model, double sparsity, Recorder rec, TrainConfig? source = null, ModelSpec? sourceSpec = null) => new()
    {
        Model = model, Targets = new PruningSelection().Select(model), Sparsity = sparsity, Seed = 3,
        CalibrationBatches = n => PruningFixture.Batches(Math.Min(n, 3)), Training = new TrainConfig { Iterations = 10 },
        Source = source, SourceSpec = sourceSpec, TrainPhase = p => rec.Train(model, p),
    };

    private static double Sparsity(MaskSet m) => 1 - (double)m.TotalKept / m.TotalNumel;

    /// <summary>IMP removes the fraction p of the remaining weights each round, never reviving one, and ends exactly at S.</summary>
    [Fact]
    public void ImpRemovesTheStatedFractionOfTheRemainingWeightsEachRound()
    {
        var model = PruningFixture.TinyModel(4);
        var rec = new Recorder();
        var r = new Imp(new ImpOptions { Rate = 0.5 }).Prune(Context(model, 0.9, rec));
        Assert.Equal(new[] { 0.5, 0.75, 0.875, 0.9 }, rec.Calls.Select(c => Math.Round(Sparsity(c.Masks), 3)));
        for (int i = 1; i < rec.Calls.Count; i++)
            foreach (var (name, m) in rec.Calls[i].Masks.Masks)
            {
                var now = m.ToArray(); var before = rec.Calls[i - 1].Masks.Masks[name].ToArray();
                for (int e = 0; e < now.Length; e++) Assert.True(now[e] <= before[e], $"{name}[{e}] revived in round {i + 1}");
            }
        Assert.True(r.Trained);
    }

    /// <summary>LTH: the survivors equal the dense model's own initial values θ₀ when retraining starts; the pruned are 0.</summary>
    [Fact]
    public void LotteryTicketRewindsSurvivorsToTheirInitialValues()
    {
        var source = new TrainConfig { Seed = 17 };
        var spec = PruningFixture.TinyModel().Spec;
        var model = ModelFactory.Build(spec, 17).SelectTasks("seg", "normal");
        foreach (var p in model.Parameters()) p.Span[0] += 0.5f;                   // "trained" weights differ from θ₀
        var rec = new Recorder();
        new LotteryTicket(new LotteryTicketOptions()).Prune(Context(model, 0.7, rec, source, spec));
        var theta0 = ModelFactory.Build(spec, 17).SelectTasks("seg", "normal").StateDict();
        var (_, state, masks) = rec.Calls.Single();
        foreach (var (name, mask) in masks.Masks)
        {
            var m = mask.ToArray(); var init = theta0[name].ToArray(); var w = state[name];
            for (int e = 0; e < m.Length; e++) Assert.Equal(m[e] != 0 ? init[e] : 0f, w[e]);
        }
        Assert.InRange(Sparsity(masks), 0.699, 0.701);
    }

    /// <summary>DiSparse: the backbone mask is the OR of the tasks' own masks (each the top-k over backbone + its head).</summary>
    [Fact]
    public void DiSparseBackboneMaskIsTheOrOfTheTaskMasks()
    {
        var model = PruningFixture.TinyModel(5);
        var rec = new Recorder();
        var ctx = Context(model, 0.8, rec);
        var r = new DiSparse(new DiSparseOptions { Variant = "pt" }).Prune(ctx);
        double keep = (double)r.Details["keepRatio"]!;
        var tasks = model.Tasks.Select(t => t.Name).ToList();
        var own = tasks.Select(t =>
        {
            var sub = ctx.Targets.Where(p => p.BelongsTo(t)).ToList();
            return new TaskMaskBuilder(sub, new[] { t }, new[] { (IReadOnlyList<float[]?>)sub.Select(p => (float[]?)p.Weight.ToArray().Select(MathF.Abs).ToArray()).ToList() }, Fusion.Or).Build(keep);
        }).ToList();
        foreach (var p in ctx.Targets)
        {
            var fused = PruningFixture.Keep(r.Masks, p.Name);
            if (p.Role.IsShared)
                for (int e = 0; e < fused.Length; e++) Assert.Equal(own.Any(m => PruningFixture.Keep(m, p.Name)[e]), fused[e]);
            else Assert.Equal(PruningFixture.Keep(own[tasks.IndexOf(p.Role.Task!)], p.Name), fused);
        }
        Assert.InRange(Sparsity(r.Masks), 0.799, 0.801);
        Assert.False(r.Trained);                                                    // pre-trained variant: the job fine-tunes
    }

    /// <summary>SNIP's masks are the global top-k of |W ⊙ ∂L/∂W| for the joint loss at its fresh initialisation.</summary>
    [Fact]
    public void SnipScoresTheJointLossAtInitialisation()
    {
        var model = PruningFixture.TinyModel(6);
        var rec = new Recorder();
        var ctx = Context(model, 0.75, rec);
        var r = new Snip(new SnipOptions { CalibrationBatches = 3 }).Prune(ctx);
        var fresh = ModelFactory.Build(model.Spec, ctx.Seed + 101);
        var targets = new PruningSelection().Select(fresh);
        var score = targets.Select(t => new double[t.Numel]).ToArray();
        fresh.Train();
        foreach (var b in PruningFixture.Batches(3))
        {
            fresh.ZeroGrad();
            var o = fresh.ForwardAll(b.Images);
            fresh.Tasks.Select(t => LossTargets.Loss(t, o[t.Name], b.Targets[t.Name])).Aggregate((a, c) => a + c).Backward();
            for (int i = 0; i < targets.Count; i++)
            {
                var w = targets[i].Weight.ToArray(); var g = targets[i].Weight.Grad!.ToArray();
                for (int e = 0; e < w.Length; e++) score[i][e] += Math.Abs(w[e] * g[e]);
            }
        }
        var all = score.SelectMany((s, i) => s.Select((v, e) => (v, i, e))).OrderByDescending(x => x.v).ToList();
        long keep = r.Masks.TotalKept;
        var kept = all.Take((int)keep).ToHashSet();
        // Compare away from the boundary, where float sums could swap neighbours.
        double boundary = all[(int)keep].v;
        foreach (var (v, i, e) in all.Where(x => Math.Abs(x.v - boundary) > 1e-4 * boundary))
            Assert.Equal(kept.Contains((v, i, e)), PruningFixture.Keep(r.Masks, targets[i].Name)[e]);
        Assert.Single(rec.Calls);                                                   // then trained from scratch, once
        Assert.InRange(Sparsity(r.Masks), 0.749, 0.751);
    }

    /// <summary>ERK densities average to the target density, keep the stem dense, and give small layers more density.</summary>
    [Fact]
    public void ErkDensitiesMeetTheBudget()
    {
        var model = PruningFixture.TinyModel(7);
        var targets = new PruningSelection().Select(model);
        var stem = targets.First(t => t.Role.IsShared);
        var d = DiSparseDynamic.Erk(targets, 0.2, 0.9, stem);
        double kept = targets.Sum(t => d[t.Name] * t.Numel);
        Assert.Equal(0.2 * targets.Sum(t => (double)t.Numel), kept, 6);
        Assert.Equal(1.0, d[stem.Name]);
        Assert.All(d.Values, v => Assert.InRange(v, 0, 1));
    }
}
