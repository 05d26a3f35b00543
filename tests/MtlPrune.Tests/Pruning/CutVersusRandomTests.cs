using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using Xunit.Abstractions;

namespace MtlPrune.Tests.Pruning;

/// <summary>CUT's claim on a real trained model: its masks beat random masks at the same sparsity after the same fine-tune.</summary>
public class CutVersusRandomTests(ITestOutputHelper output)
{
    private static string Repo([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    [Fact]
    public void CutBeatsRandomAtNinetyPercentOnEveryKeptTask()
    {
        using var dir = new TempDir();
        PruneOptions Options(string name) => new()
        {
            Checkpoint = Path.Combine(Repo(), "models", "resnet-mini-scenes64.safetensors"), Tasks = new[] { "seg", "depth" }, Sparsity = 0.9,
            Output = dir.File(name), TrainCount = 400, ValCount = 48, TestCount = 96, FinetuneIterations = 100, EvalEvery = 50, Lr = 1e-3, Seed = 1,
        };
        var cut = new PruneJob(Options("cut"), new Cut(new CutOptions { CalibrationBatches = 20, Fusion = Fusion.Or })).Run();
        var random = new PruneJob(Options("random"), new RandomPruning()).Run();
        foreach (var (name, r) in new[] { ("cut", cut), ("random", random) })
            output.WriteLine($"{name,-6}: sparsity {r.Sparsity.Selected.Sparsity:P2}; ΔT after pruning {r.PrunedDeltaT.SumPerTask.Overall:+0.0;-0.0}%, after {r.FinetuneSteps} fine-tuning steps {r.FinetunedDeltaT.SumPerTask.Overall:+0.0;-0.0}%; " +
                string.Join("; ", r.KeptTasks.Select(t => $"{t} ΔT {r.FinetunedDeltaT.SumPerTask.PerTask[t]:+0.0;-0.0}% (" +
                    string.Join(", ", r.Finetuned.Metrics[t].Select(m => $"{m.Key} {m.Value:G4}")) + ")")));
        foreach (var task in cut.KeptTasks)
        {
            Assert.InRange(cut.Sparsity.Selected.Sparsity, 0.899, 0.901);
            Assert.InRange(random.Sparsity.Selected.Sparsity, 0.899, 0.901);
            Assert.True(cut.FinetunedDeltaT.SumPerTask.PerTask[task] > random.FinetunedDeltaT.SumPerTask.PerTask[task],
                $"{task}: CUT ΔT {cut.FinetunedDeltaT.SumPerTask.PerTask[task]:F1}% is not above random's {random.FinetunedDeltaT.SumPerTask.PerTask[task]:F1}%");
        }
    }
}
