using MtlPrune.Engine;
using MtlPrune.Pruning;

namespace MtlPrune.Tests.Pruning;

public class FusionTests
{
    /// <summary>Every combination of three tasks' keep decisions, under each rule (methods.md §1.4).</summary>
    [Theory]
    [InlineData("or", new[] { false, true, true, true, true, true, true, true })]
    [InlineData("and", new[] { false, false, false, false, false, false, false, true })]
    [InlineData("vote", new[] { false, false, false, true, false, true, true, true })]      // τ = ⌊3/2⌋ + 1 = 2
    [InlineData("vote:1", new[] { false, true, true, true, true, true, true, true })]
    [InlineData("vote:2", new[] { false, false, false, true, false, true, true, true })]
    [InlineData("vote:3", new[] { false, false, false, false, false, false, false, true })]
    public void TruthTableForThreeTasks(string rule, bool[] expected)
    {
        var f = Fusion.Parse(rule);
        for (int combo = 0; combo < 8; combo++)
        {
            int keptBy = (combo & 1) + ((combo >> 1) & 1) + ((combo >> 2) & 1);
            Assert.True(expected[combo] == f.Keep(keptBy, 3), $"{rule}: tasks {Convert.ToString(combo, 2).PadLeft(3, '0')} keep → expected {expected[combo]}");
        }
    }

    [Fact]
    public void DefaultVoteIsAStrictMajorityAndEqualsAndForTwoTasks()
    {
        Assert.Equal(2, Fusion.Majority.Threshold(2));   // = and
        Assert.Equal(2, Fusion.Majority.Threshold(3));
        Assert.Equal(3, Fusion.Majority.Threshold(5));   // the reference code hard-codes 2 here
        Assert.Equal(1, Fusion.Majority.Threshold(1));
        Assert.Equal("vote:3", Fusion.Majority.ToString(5));
    }

    [Fact]
    public void BadRulesAreRefusedByName()
    {
        Assert.Contains("--fusion", Assert.Throws<ArgumentException>(() => Fusion.Parse("xor")).Message);
        Assert.Contains("at least 1", Assert.Throws<ArgumentException>(() => Fusion.Parse("vote:0")).Message);
        Assert.Contains("3 tasks", Assert.Throws<ArgumentException>(() => Fusion.Parse("vote:3").Threshold(2)).Message);
    }

    /// <summary>The builder applies the rule to the backbone and each task's own mask to its head.</summary>
    [Fact]
    public void BuilderFusesTheBackboneAndKeepsEachHeadsOwnMask()
    {
        var rng = new Rng(3);
        var tasks = new[] { "a", "b", "c" };
        var targets = PruningFixture.FakeTargets(2, 50, tasks, 20, rng);
        var scores = PruningFixture.RandomScores(targets, tasks, rng);
        var single = tasks.Select((t, k) => new TaskMaskBuilder(targets.Where(p => p.BelongsTo(t)).ToList(), new[] { t },
            new[] { (IReadOnlyList<float[]?>)scores[k].Where((s, i) => targets[i].BelongsTo(t)).ToList() }, Fusion.Or)).ToList();
        foreach (var rule in new[] { "or", "and", "vote" })
        {
            var builder = new TaskMaskBuilder(targets, tasks, scores, Fusion.Parse(rule));
            var masks = builder.Build(0.4);
            var own = single.Select(b => b.Build(0.4)).ToList();   // each task alone: same γ_k, same ranking
            foreach (var p in targets)
            {
                var fused = PruningFixture.Keep(masks, p.Name);
                if (p.Role.IsShared)
                {
                    var votes = Enumerable.Range(0, fused.Length).Select(e => own.Count(m => PruningFixture.Keep(m, p.Name)[e])).ToArray();
                    for (int e = 0; e < fused.Length; e++) Assert.Equal(Fusion.Parse(rule).Keep(votes[e], 3), fused[e]);
                }
                else Assert.Equal(PruningFixture.Keep(own[Array.IndexOf(tasks, p.Role.Task)], p.Name), fused);
            }
        }
    }
}
