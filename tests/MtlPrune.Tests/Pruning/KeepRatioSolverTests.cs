using MtlPrune.Engine;
using MtlPrune.Pruning;
using Xunit.Abstractions;

namespace MtlPrune.Tests.Pruning;

public class KeepRatioSolverTests(ITestOutputHelper output)
{
    /// <summary>The solved keep ratio puts the fused model within 0.1 percentage points of the target.</summary>
    [Fact]
    public void LandsWithinATenthOfAPointForEveryTaskCountFusionAndSparsity()
    {
        foreach (int k in new[] { 1, 2, 3, 5 })
            foreach (var rule in new[] { "or", "and", "vote" })
            {
                var rng = new Rng((ulong)(k * 10 + rule.Length));
                var tasks = Enumerable.Range(0, k).Select(i => $"t{i}").ToArray();
                var targets = PruningFixture.FakeTargets(3, 4000, tasks, 1500, rng);
                var builder = new TaskMaskBuilder(targets, tasks, PruningFixture.RandomScores(targets, tasks, rng), Fusion.Parse(rule));
                foreach (double s in new[] { 0.3, 0.5, 0.7, 0.9, 0.95 })
                {
                    var sol = KeepRatioSolver.Solve(builder, s);
                    var masks = builder.Build(sol.KeepRatio);
                    double achieved = 1 - (double)masks.TotalKept / masks.TotalNumel;
                    output.WriteLine($"K={k} {rule,-4} target {s:P1}: keep ratio {sol.KeepRatio:F4} → {achieved:P3} in {sol.Iterations} iterations");
                    Assert.Equal(sol.AchievedSparsity, achieved, 12);
                    Assert.True(Math.Abs(achieved - s) <= 0.001, $"K={k} {rule} target {s}: achieved {achieved}");
                    if (rule == "or" && k > 1) Assert.True(sol.KeepRatio < 1 - s, "OR keeps the union, so each task must keep less than 1 − S");
                    if (rule == "and" && k > 1) Assert.True(sol.KeepRatio > 1 - s, "AND keeps the intersection, so each task must keep more than 1 − S");
                }
            }
    }

    [Fact]
    public void RejectsSparsityOutsideTheOpenInterval()
    {
        var rng = new Rng(1);
        var targets = PruningFixture.FakeTargets(1, 10, new[] { "a" }, 5, rng);
        var b = new TaskMaskBuilder(targets, new[] { "a" }, PruningFixture.RandomScores(targets, new[] { "a" }, rng), Fusion.Or);
        foreach (var s in new[] { 0.0, 1.0, -0.5, 1.5, double.NaN })
            Assert.Contains("--sparsity", Assert.Throws<ArgumentException>(() => KeepRatioSolver.Solve(b, s)).Message);
    }

    /// <summary>Exact top-k per task: γ = ⌊n·r⌋ best scores, ties broken by position.</summary>
    [Fact]
    public void TopKKeepsTheBestScoresAndBreaksTiesByPosition()
    {
        var rng = new Rng(2);
        var targets = PruningFixture.FakeTargets(1, 6, new[] { "a" }, 4, rng);
        var scores = new List<IReadOnlyList<float[]?>> { new List<float[]?> { new float[] { 0.5f, 0.9f, 0.5f, 0.1f, 0.5f, 0f }, new float[] { 0.5f, 0.2f, 0.95f, 0f } } };
        var b = new TaskMaskBuilder(targets, new[] { "a" }, scores, Fusion.Or);
        var m = b.Build(new long[] { 4 });
        // Order: 0.95 (head 2), 0.9 (backbone 1), then the 0.5s in position order: backbone 0, backbone 2 (kept), backbone 4, head 0 (not).
        Assert.Equal(new[] { true, true, true, false, false, false }, PruningFixture.Keep(m, "backbone.0.weight"));
        Assert.Equal(new[] { false, false, true, false }, PruningFixture.Keep(m, "heads.a.weight"));
        Assert.Equal(2, b.KeepCount(0, 0.2));   // ⌊10 · 0.2⌋
        Assert.Throws<ArgumentException>(() => new TaskMaskBuilder(targets, new[] { "a" },
            new List<IReadOnlyList<float[]?>> { new List<float[]?> { new float[] { float.NaN, 0, 0, 0, 0, 0 }, new float[4] } }, Fusion.Or));
    }
}
