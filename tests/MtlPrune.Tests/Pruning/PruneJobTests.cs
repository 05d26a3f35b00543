using System.Text.Json;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using MtlPrune.Training;

namespace MtlPrune.Tests.Pruning;

public class PruneJobTests
{
    /// <summary>A tiny dense checkpoint trained for two steps, with its training configuration in the metadata.</summary>
    private static string Dense(TempDir dir)
    {
        var cfg = new TrainConfig
        {
            Widths = new[] { 4, 4, 8, 8 }, Blocks = new[] { 1, 1, 1, 1 }, HeadWidth = 4, Size = 16, TrainCount = 16, ValCount = 4,
            Iterations = 2, Batch = 4, EvalEvery = 2, Output = dir.File("dense"), LossWeights = new() { ["depth"] = 3 },
        };
        return new Trainer(cfg).Run().BestCheckpoint;
    }

    private static PruneOptions Options(string checkpoint, string output, params string[] tasks) => new()
    {
        Checkpoint = checkpoint, Tasks = tasks, Sparsity = 0.8, Output = output, FinetuneIterations = 3, EvalEvery = 3, TestCount = 6, Lr = 1e-3,
    };

    private static Cut Cut() => new(new CutOptions { CalibrationBatches = 2, Fusion = Fusion.Or });

    /// <summary>
    /// The output holds only the kept tasks' heads, its pruned weights are exactly 0 with masks stored, its metadata
    /// records the run, and the report has every promised part.
    /// </summary>
    [Fact]
    public void PrunedCheckpointKeepsOnlySelectedHeadsAndReportsEverything()
    {
        using var dir = new TempDir();
        var dense = Dense(dir);
        var report = new PruneJob(Options(dense, dir.File("out"), "seg", "depth"), Cut()).Run();
        var file = SafeTensors.Read(dir.File("out/pruned.safetensors"));
        Assert.DoesNotContain(file.Tensors, t => t.Name.StartsWith("heads.normal."));
        Assert.Contains(file.Tensors, t => t.Name == "heads.depth.conv1.weight_mask");
        var (model, meta) = Checkpoint.Load(dir.File("out/pruned.safetensors"));
        Assert.Equal(new[] { "seg", "depth" }, model.Tasks.Select(t => t.Name));
        var masks = MaskSet.FromModel(model);
        Assert.Equal(new PruningSelection().Select(model).Count, masks.Count);
        foreach (var (name, mask) in masks.Masks)
        {
            var w = model.StateDict()[name].ToArray(); var m = mask.ToArray();
            for (int i = 0; i < m.Length; i++) if (m[i] == 0) Assert.Equal(0f, w[i]);
        }
        Assert.InRange(report.Sparsity.Selected.Sparsity, 0.799, 0.801);
        var pruning = JsonDocument.Parse(meta["mtlprune.pruning"]).RootElement;
        Assert.Equal("cut", pruning.GetProperty("method").GetString());
        Assert.Equal("or", pruning.GetProperty("options").GetProperty("fusion").GetString());
        Assert.Equal(0.8, pruning.GetProperty("requestedSparsity").GetDouble());
        Assert.Equal(dense, pruning.GetProperty("source").GetProperty("checkpoint").GetString());
        Assert.Equal(3.0, TrainConfig.FromMetadata(meta, "x")!.LossWeights["depth"]);    // the source's λ, restricted to the kept tasks
        var json = JsonDocument.Parse(File.ReadAllText(dir.File("out/report.json"))).RootElement;
        foreach (var key in new[] { "dense", "pruned", "finetuned", "prunedDeltaT", "finetunedDeltaT", "sparsity", "seconds" }) Assert.True(json.TryGetProperty(key, out _), key);
        Assert.Equal(3, report.FinetuneSteps);
        var md = File.ReadAllText(dir.File("out/report.md"));
        Assert.Contains("| seg | mIoU |", md);
        Assert.Contains("| backbone |", md);
        Assert.Contains("ΔT", md);
        var ev = Evaluator.Evaluate(model, new Data.ScenesDataset(Data.Split.Test, 4, 16, 16), 4);   // eval reads pruned checkpoints
        Assert.Equal(new[] { "seg", "depth" }, ev.Metrics.Keys);
    }

    /// <summary>Bad input is named, and nothing in the output directory is lost by a refused run.</summary>
    [Fact]
    public void BadInputIsRefusedAndAnotherRunIsNotOverwritten()
    {
        using var dir = new TempDir();
        var dense = Dense(dir);
        Assert.Contains("edges", Assert.Throws<ArgumentException>(() => new PruneJob(Options(dense, dir.File("o"), "seg", "edges"), Cut()).Run()).Message);
        foreach (var s in new[] { 0.0, 1.0, 1.2 })
            Assert.Contains("--sparsity", Assert.Throws<ArgumentException>(() => new PruneJob(Options(dense, dir.File("o"), "seg") with { Sparsity = s }, Cut()).Run()).Message);
        SafeTensors.Write(dir.File("plain.safetensors"), new Dictionary<string, Tensor> { ["w"] = Tensor.Ones(2) });
        Assert.Contains("not an MtlPrune multi-task checkpoint", Assert.Throws<ModelFormatException>(() => new PruneJob(Options(dir.File("plain.safetensors"), dir.File("o"), "seg"), Cut()).Run()).Message);

        var first = Options(dense, dir.File("run"), "seg");
        new PruneJob(first, Cut()).Run();
        var bytes = File.ReadAllBytes(dir.File("run/pruned.safetensors"));
        var e = Assert.Throws<ArgumentException>(() => new PruneJob(first with { Sparsity = 0.5 }, Cut()).Run());
        Assert.Contains("different pruning run", e.Message);
        Assert.Equal(bytes, File.ReadAllBytes(dir.File("run/pruned.safetensors")));
        var weights = SafeTensors.Read(dir.File("run/pruned.safetensors")).ToDictionary().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
        new PruneJob(first, Cut()).Run();                                   // the same run again is allowed, and reproducible
        foreach (var (k, v) in SafeTensors.Read(dir.File("run/pruned.safetensors")).ToDictionary()) Assert.Equal(weights[k], v.ToArray());
        new PruneJob(first with { Sparsity = 0.5 }, Cut()).Run(force: true);
        Directory.CreateDirectory(dir.File("other")); File.WriteAllText(dir.File("other/notes.txt"), "mine");
        Assert.Contains("not from a pruning run", Assert.Throws<ArgumentException>(() => new PruneJob(Options(dense, dir.File("other"), "seg"), Cut()).Run()).Message);
        Assert.Equal("mine", File.ReadAllText(dir.File("other/notes.txt")));
    }

    /// <summary>Two runs with the same seed write bit-identical weights and masks.</summary>
    [Fact]
    public void SameSeedGivesTheSameCheckpoint()
    {
        using var dir = new TempDir();
        var dense = Dense(dir);
        new PruneJob(Options(dense, dir.File("a"), "seg", "normal") with { Seed = 4 }, Cut()).Run();
        new PruneJob(Options(dense, dir.File("b"), "seg", "normal") with { Seed = 4 }, Cut()).Run();
        var a = SafeTensors.Read(dir.File("a/pruned.safetensors")).ToDictionary();
        var b = SafeTensors.Read(dir.File("b/pruned.safetensors")).ToDictionary();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, v) in a) Assert.Equal(v.ToArray(), b[k].ToArray());
    }
}
