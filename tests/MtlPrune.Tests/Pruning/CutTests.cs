using MtlPrune.Engine;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using MtlPrune.Training;

namespace MtlPrune.Tests.Pruning;

public class CutTests
{
    private static PruningContext Context(MultiTaskModel model, double sparsity, List<Data.Batch> batches, ulong seed = 0) => new()
    {
        Model = model, Targets = new PruningSelection().Select(model), Sparsity = sparsity, Seed = seed,
        CalibrationBatches = n => batches.Take(n),
    };

    /// <summary>
    /// The isomorphic score Σ_b |∂L_k/∂β| equals Σ_b |W ⊙ ∂L_k/∂W| computed by plain autograd with the weights trainable,
    /// per task, over backbone + head_k only (methods.md §1.2).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ScoreEqualsWeightTimesGradientByPlainAutograd(bool trainMode)
    {
        var model = PruningFixture.TinyModel(2).SelectTasks("seg", "depth");
        var batches = PruningFixture.Batches(3);
        var targets = new PruningSelection().Select(model);
        var objectives = model.Tasks.Select(t => new ScoringObjective(t.Name,
            b => LossTargets.Loss(t, model.ForwardAll(b.Images, new[] { t.Name })[t.Name], b.Targets[t.Name]), p => p.BelongsTo(t.Name))).ToList();
        var scores = ConnectionSensitivity.Score(model, targets, objectives, batches, trainMode);

        model.Train(trainMode);
        for (int k = 0; k < objectives.Count; k++)
        {
            var expected = targets.Select(t => new double[t.Numel]).ToArray();
            foreach (var b in batches)
            {
                model.ZeroGrad();
                objectives[k].Loss(b).Backward();
                for (int i = 0; i < targets.Count; i++)
                {
                    if (targets[i].Weight.Grad is not { } g) continue;
                    var w = targets[i].Weight.ToArray(); var gv = g.ToArray();
                    for (int e = 0; e < w.Length; e++) expected[i][e] += Math.Abs(w[e] * gv[e]);
                }
            }
            for (int i = 0; i < targets.Count; i++)
            {
                bool covered = targets[i].BelongsTo(model.Tasks[k].Name);
                Assert.Equal(covered, scores[k][i] is not null);
                if (!covered) { Assert.All(expected[i], v => Assert.Equal(0, v)); continue; }
                for (int e = 0; e < expected[i].Length; e++)
                    Assert.True(Math.Abs(expected[i][e] - scores[k][i]![e]) <= 1e-6 * Math.Abs(expected[i][e]) + 1e-12,
                        $"{objectives[k].Name} {targets[i].Name}[{e}]: autograd {expected[i][e]}, isomorphic {scores[k][i]![e]}");
            }
            Assert.Contains(scores[k].Where(s => s is not null).SelectMany(s => s!), v => v > 0);
        }
    }

    /// <summary>Scoring leaves no trace: running statistics, weights, flags and parametrizations are as before.</summary>
    [Fact]
    public void ScoringChangesNothingInTheModel()
    {
        var model = PruningFixture.TinyModel(2);
        var before = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
        var targets = new PruningSelection().Select(model);
        var cut = new Cut(new CutOptions { CalibrationBatches = 2 });
        cut.Prune(Context(model, 0.5, PruningFixture.Batches(2)));
        foreach (var (k, v) in model.StateDict()) Assert.Equal(before[k], v.ToArray());
        Assert.All(model.Parameters(), p => Assert.True(p.RequiresGrad));
        Assert.All(targets, t => Assert.Null(t.Layer.Parametrization));
        Assert.True(model.Training);
    }

    /// <summary>The same seed and data give the same masks; the masks hit the sparsity; heads follow their own task.</summary>
    [Fact]
    public void SameSeedSameMasksAndTheRequestedSparsity()
    {
        var batches = PruningFixture.Batches(3);
        MaskSet Run(string fusion) => new Cut(new CutOptions { CalibrationBatches = 3, Fusion = Fusion.Parse(fusion) })
            .Prune(Context(PruningFixture.TinyModel(2).SelectTasks("seg", "depth", "normal"), 0.8, batches)).Masks;
        var a = Run("or"); var b = Run("or");
        foreach (var (n, m) in a.Masks) Assert.Equal(m.ToArray(), b.Masks[n].ToArray());
        foreach (var f in new[] { "or", "and", "vote" })
        {
            var m = Run(f);
            Assert.InRange(1 - (double)m.TotalKept / m.TotalNumel, 0.799, 0.801);
        }
        var or = Run("or"); var and = Run("and");
        Assert.NotEqual(or.Masks["backbone.layer1.0.conv1.weight"].ToArray(), and.Masks["backbone.layer1.0.conv1.weight"].ToArray());
    }

    [Fact]
    public void FixedKeepRatioIsUsedAsGiven()
    {
        var model = PruningFixture.TinyModel(2).SelectTasks("seg");
        var r = new Cut(new CutOptions { CalibrationBatches = 1, KeepRatio = 0.25 }).Prune(Context(model, 0.9, PruningFixture.Batches(1)));
        Assert.Equal(0.25, (double)r.Details["keepRatio"]!);
        // One task: its mask keeps ⌊n·0.25⌋ weights of backbone + head.
        Assert.Equal((long)Math.Floor(r.Masks.TotalNumel * 0.25), r.Masks.TotalKept);
        Assert.Contains("--keep-ratio", Assert.Throws<ArgumentException>(() =>
            new Cut(new CutOptions { KeepRatio = 1.5 }).Prune(Context(model, 0.9, PruningFixture.Batches(1)))).Message);
    }

    [Fact]
    public void RandomAndMagnitudePruneExactlyRoundSN()
    {
        var model = PruningFixture.TinyModel(2);
        var ctx = Context(model, 0.7, PruningFixture.Batches(1), seed: 3);
        long n = ctx.Targets.Sum(t => (long)t.Numel);
        var rnd = new RandomPruning().Prune(ctx).Masks;
        Assert.Equal(n - (long)Math.Round(0.7 * n), rnd.TotalKept);
        Assert.Equal(rnd.Masks.Values.Select(m => m.ToArray()).SelectMany(x => x), new RandomPruning().Prune(ctx).Masks.Masks.Values.Select(m => m.ToArray()).SelectMany(x => x));
        var mag = new MagnitudePruning().Prune(ctx).Masks;
        Assert.Equal(rnd.TotalKept, mag.TotalKept);
        // Every kept weight is at least as large as every pruned one.
        float minKept = float.MaxValue, maxPruned = 0;
        foreach (var t in ctx.Targets)
        {
            var w = t.Weight.ToArray(); var m = mag.Masks[t.Name].ToArray();
            for (int e = 0; e < w.Length; e++) if (m[e] != 0) minKept = Math.Min(minKept, Math.Abs(w[e])); else maxPruned = Math.Max(maxPruned, Math.Abs(w[e]));
        }
        Assert.True(minKept >= maxPruned, $"kept {minKept} < pruned {maxPruned}");
    }
}
