using MtlPrune.Compare;
using MtlPrune.Pruning;
using MtlPrune.Training;

namespace MtlPrune.Tests.Pruning;

public class CompareTests
{
    private static string Dense(TempDir dir)
    {
        var cfg = new TrainConfig
        {
            Widths = new[] { 4, 4, 8, 8 }, Blocks = new[] { 1, 1, 1, 1 }, HeadWidth = 4, Size = 16, TrainCount = 16, ValCount = 4,
            Iterations = 2, Batch = 4, EvalEvery = 2, Output = dir.File("dense"),
        };
        return new Trainer(cfg).Run().BestCheckpoint;
    }

    private static MtlPrune.Compare.CompareOptions Options(string dense, string root, params string[] methods) => new()
    {
        Template = new PruneOptions { Checkpoint = dense, Tasks = new[] { "seg", "depth" }, Sparsity = 0.5, Output = root, FinetuneIterations = 2, EvalEvery = 2, TestCount = 4 },
        Settings = new MethodSettings { CalibrationBatches = 1 }, Methods = methods, Sparsities = new[] { 0.5, 0.8 }, Seeds = 1,
    };

    /// <summary>
    /// A second sweep reuses every finished run; a run killed mid-write (its report half-written, or only a temporary file)
    /// is not taken as finished and is run again, alone.
    /// </summary>
    [Fact]
    public void ResumesWithoutRedoingFinishedRunsAndRedoesHalfWrittenOnes()
    {
        using var dir = new TempDir();
        var options = Options(Dense(dir), dir.File("sweep"), "magnitude", "random");
        var first = new CompareSweep(options).Run();
        Assert.Equal(4, first.Count);
        Assert.All(first, o => Assert.False(o.Reused));
        Assert.All(first, o => Assert.NotNull(o.Report));
        var again = new CompareSweep(options).Run();
        Assert.All(again, o => Assert.True(o.Reused));
        Assert.Equal(first.Select(o => o.Report!.FinetunedDeltaT.SumPerTask.Overall), again.Select(o => o.Report!.FinetunedDeltaT.SumPerTask.Overall));

        // Kill one run mid-write: its report.json is cut in half; another left only an atomic-write temporary file.
        var killed = first[1].Run; var interrupted = first[2].Run;
        var report = Path.Combine(killed.Directory, "report.json");
        File.WriteAllText(report, File.ReadAllText(report)[..200]);
        var r2 = Path.Combine(interrupted.Directory, "report.json");
        File.Move(r2, Path.Combine(interrupted.Directory, ".report.json.123.tmp"));
        var third = new CompareSweep(options).Run();
        Assert.Equal(new[] { true, false, false, true }, third.Select(o => o.Reused));
        Assert.All(third, o => Assert.NotNull(o.Report));
        Assert.NotNull(CompareSweep.TryLoad(killed));
    }

    /// <summary>
    /// Report-only runs nothing: with more seeds planned than have finished, the outcomes are the finished runs, no run
    /// directory is created, and the table says which rows have fewer seeds than the fullest.
    /// </summary>
    [Fact]
    public void ReportOnlyTabulatesWhatFinishedAndRunsNothing()
    {
        using var dir = new TempDir();
        var root = dir.File("sweep");
        var one = Options(Dense(dir), root, "magnitude", "random");
        new CompareSweep(one).Run();
        // A second seed of magnitude at 50% finishes; the rest of the two-seed plan does not.
        var two = one with { Seeds = 2 };
        var extra = new CompareSweep(two with { Methods = new[] { "magnitude" }, Sparsities = new[] { 0.5 } }).Run();
        Assert.Equal(2, extra.Count);
        int dirs = Directory.GetDirectories(Path.Combine(root, "runs")).Length;
        var outcomes = new CompareSweep(two).Run(reportOnly: true);
        Assert.Equal(5, outcomes.Count);
        Assert.All(outcomes, o => Assert.True(o.Reused));
        Assert.Equal(dirs, Directory.GetDirectories(Path.Combine(root, "runs")).Length);
        var summary = CompareSummary.From(outcomes);
        var md = CompareWriters.Markdown(summary, "");
        Assert.Equal(2, summary.Rows.Single(r => r.Label == "magnitude" && r.Sparsity == 0.5).DeltaT.N);
        Assert.Contains("| random (1 of 2 seeds) |", md);
        Assert.DoesNotContain("| magnitude (", md.Split("## 80%")[0]);
    }

    /// <summary>Run directories are keyed by every setting: a different budget or method option is a different run.</summary>
    [Fact]
    public void RunKeysChangeWithEverySetting()
    {
        using var dir = new TempDir();
        var dense = Dense(dir);
        var a = new CompareSweep(Options(dense, dir.File("s"), "magnitude")).Plan();
        var b = new CompareSweep(Options(dense, dir.File("s"), "magnitude") with { Template = Options(dense, dir.File("s")).Template with { Budget = 0.5 } }).Plan();
        var c = new CompareSweep(Options(dense, dir.File("s"), "magnitude") with { Settings = new MethodSettings { CalibrationBatches = 1, Scope = "layer" } }).Plan();
        Assert.Equal(2, a.Count);
        Assert.Empty(a.Select(r => r.Key).Intersect(b.Select(r => r.Key)));
        Assert.Empty(a.Select(r => r.Key).Intersect(c.Select(r => r.Key)));
        Assert.Equal(a.Select(r => r.Key), new CompareSweep(Options(dense, dir.File("s"), "magnitude")).Plan().Select(r => r.Key));
    }

    /// <summary>With fusion auto, CUT runs or, and and vote, and the auto row takes, per seed, the best on the validation split.</summary>
    [Fact]
    public void FusionAutoKeepsTheBestOnValidationAndReportsAllThree()
    {
        using var dir = new TempDir();
        var options = Options(Dense(dir), dir.File("auto"), "cut") with { Sparsities = new[] { 0.7 }, Seeds = 2 };
        var outcomes = new CompareSweep(options).Run();
        Assert.Equal(new[] { "cut-or", "cut-and", "cut-vote" }, outcomes.Select(o => o.Run.Label).Distinct());
        var summary = CompareSummary.From(outcomes);
        var auto = summary.Rows.Single(r => r.Label == "cut (auto)");
        var expected = outcomes.GroupBy(o => o.Run.Seed).Select(g => g.OrderByDescending(o => o.Report!.ValidationDeltaT.SumPerTask.Overall).First()).ToList();
        Assert.Equal(string.Join(",", expected.Select(e => e.Run.Label["cut-".Length..])), auto.ChosenFusions);
        Assert.Equal(expected.Average(e => e.Report!.FinetunedDeltaT.SumPerTask.Overall), auto.DeltaT.Mean, 9);
        CompareWriters.WriteAll(summary, dir.File("auto"), "test");
        var md = File.ReadAllText(dir.File("auto/compare.md"));
        Assert.Contains("## 70% sparsity", md);
        Assert.Contains("| cut (auto)", md);
        Assert.Contains("| dense |", md);
        Assert.Contains("sparsity backbone", md);
        var csv = File.ReadAllLines(dir.File("auto/compare.csv"));
        Assert.Equal("label,method,sparsity,seed,kind,name,value", csv[0]);
        Assert.Contains(csv, l => l.StartsWith("cut-or,cut,0.7,1,deltaT,overall,"));
        foreach (var f in ComparePlots.WriteAll(summary, dir.File("auto"))) System.Xml.Linq.XDocument.Load(dir.File("auto/" + f));
    }
}
