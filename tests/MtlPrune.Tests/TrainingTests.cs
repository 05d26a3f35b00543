using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Tasks;
using MtlPrune.Training;

namespace MtlPrune.Tests;

public class TrainingTests
{
    private static TrainConfig Tiny(string output, int iterations) => new()
    {
        Model = "resnet-mini", Size = 16, TrainCount = 24, ValCount = 8, Iterations = iterations, Batch = 4, EvalEvery = 3,
        Output = output, Seed = 11, Lr = 1e-3, Schedule = "none",
    };

    [Fact]
    public void TrainWritesCheckpointsLogsAndResumesExactly()
    {
        using var dir = new TempDir();
        var straight = new Trainer(Tiny(dir.File("a"), 6)).Run();
        Assert.True(File.Exists(straight.BestCheckpoint));
        Assert.True(File.Exists(dir.File("a/last.optim.safetensors")));
        var csv = File.ReadAllLines(dir.File("a/metrics.csv"));
        Assert.Equal("step,name,value", csv[0]);
        Assert.Contains(csv, l => l.StartsWith("6,val/deltaT,"));
        Assert.Equal(6, File.ReadAllLines(dir.File("a/metrics.jsonl")).Count(l => l.Contains("train/seg_loss")));
        var svg = System.Xml.Linq.XDocument.Load(dir.File("a/curves.svg"));             // well-formed SVG
        Assert.Equal(4, svg.Descendants().Count(e => e.Name.LocalName == "polyline"));  // seg, depth, normal losses + ΔT

        new Trainer(Tiny(dir.File("b"), 3)).Run();
        var resumed = new Trainer(Tiny(dir.File("b"), 6)).Run(resume: true);
        var (ma, _) = Checkpoint.Load(straight.LastCheckpoint);
        var (mb, meta) = Checkpoint.Load(resumed.LastCheckpoint);
        Assert.Equal("6", meta["mtlprune.step"]);
        foreach (var (k, v) in ma.StateDict()) Assert.Equal(v.ToArray(), mb.StateDict()[k].ToArray());
    }

    [Fact]
    public void CheckpointRebuildsTheModelAndRejectsForeignFiles()
    {
        using var dir = new TempDir();
        var spec = ModelSpec.ResNetMini() with { Widths = new[] { 8, 8, 16, 16 }, HeadWidth = 8 };
        var m = ModelFactory.Build(spec, 4);
        Checkpoint.Save(m, dir.File("m.safetensors"), new Dictionary<string, string> { ["note"] = "x" });
        var (loaded, meta) = Checkpoint.Load(dir.File("m.safetensors"));
        Assert.Equal("x", meta["note"]);
        Assert.Equal(spec.ToJson(), loaded.Spec.ToJson());
        foreach (var (k, v) in m.StateDict()) Assert.Equal(v.ToArray(), loaded.StateDict()[k].ToArray());
        SafeTensors.Write(dir.File("plain.safetensors"), new Dictionary<string, Tensor> { ["w"] = Tensor.Ones(2) });
        var e = Assert.Throws<ModelFormatException>(() => Checkpoint.Load(dir.File("plain.safetensors")));
        Assert.Contains("not an MtlPrune multi-task checkpoint", e.Message);
    }

    [Fact]
    public void ConfigFilesAndValidationNameTheFault()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("c.yaml"), "model: resnet-mini\ntasks: [seg, depth]\niterations: 7\nlossWeights: {seg: 1, depth: 3}\n");
        var c = TrainConfig.Load(dir.File("c.yaml"));
        Assert.Equal(new[] { "seg", "depth" }, c.Tasks);
        Assert.Equal(7, c.Iterations);
        Assert.Equal(3, c.LossWeights["depth"]);
        File.WriteAllText(dir.File("c.json"), "{\"iterations\": 5, \"batch\": 2}");
        Assert.Equal(2, TrainConfig.Load(dir.File("c.json")).Batch);
        File.WriteAllText(dir.File("bad.json"), "{\"iteratons\": 5}");
        Assert.Contains("bad.json", Assert.Throws<FormatException>(() => TrainConfig.Load(dir.File("bad.json"))).Message);
        File.WriteAllText(dir.File("bad.yaml"), "iteratons: 5\n");
        Assert.Contains("bad.yaml", Assert.Throws<FormatException>(() => TrainConfig.Load(dir.File("bad.yaml"))).Message);
        Assert.Contains("optimizer", Assert.Throws<ArgumentException>(() => new TrainConfig { Optimizer = "lion" }.Validate()).Message);
        Assert.Contains("--val-count", Assert.Throws<ArgumentException>(() => new TrainConfig { ValCount = 0 }.Validate()).Message);
        Assert.Contains("edges", Assert.Throws<ArgumentException>(() => new TrainConfig { LossWeights = new() { ["edges"] = 1 } }.Validate()).Message);
    }

    [Fact]
    public void TrivialBaselineIsBeatenByAShortTraining()
    {
        using var dir = new TempDir();
        var cfg = Tiny(dir.File("t"), 60);
        cfg.TrainCount = 64; cfg.Size = 24; cfg.Lr = 3e-3; cfg.EvalEvery = 60;
        var r = new Trainer(cfg).Run();
        var (model, _) = Checkpoint.Load(r.BestCheckpoint);
        var test = new ScenesDataset(Split.Test, 16, 24, 24, 11);
        var ev = Evaluator.Evaluate(model, test);
        var trivial = TrivialBaseline.Evaluate(new ScenesDataset(Split.Train, 64, 24, 24, 11), test, model.Tasks);
        Assert.True(ev.Metrics["depth"]["abs_err"] < trivial.Metrics["depth"]["abs_err"], $"depth {ev.Metrics["depth"]["abs_err"]} vs {trivial.Metrics["depth"]["abs_err"]}");
        Assert.True(ev.Metrics["normal"]["mean"] < trivial.Metrics["normal"]["mean"], $"normal {ev.Metrics["normal"]["mean"]} vs {trivial.Metrics["normal"]["mean"]}");
        Assert.True(ev.Metrics["seg"]["mIoU"] > trivial.Metrics["seg"]["mIoU"], $"mIoU {ev.Metrics["seg"]["mIoU"]} vs {trivial.Metrics["seg"]["mIoU"]}");
    }

    [Fact]
    public void TaskLossesUseTheirValidityRules()
    {
        var depth = new TaskSpec("depth", TaskKind.Depth, 1);
        var pred = Tensor.FromArray(new float[] { 1, 5, 3 }, 1, 1, 1, 3);
        var gt = Tensor.FromArray(new float[] { 2, 0, 3 }, 1, 1, 1, 3);   // the 0 is missing depth: ignored
        Assert.Equal(0.5f, depth.Loss(pred, gt).Item(), 5);
        var normal = new TaskSpec("normal", TaskKind.Normals, 3);
        var np = Tensor.FromArray(new float[] { 2, 0, 0, 0, 0, 0 }, 1, 3, 1, 2);
        var ng = Tensor.FromArray(new float[] { 1, 0, 0, 0, 0, 0 }, 1, 3, 1, 2);  // pixel 1 has no ground truth
        Assert.Equal(0f, normal.Loss(np, ng).Item(), 5);
    }
}

public class ArchitectureTrainingTests
{
    [Fact]
    public void DeepLabPathTrainsAndEvaluatesAtOneEighthResolution()
    {
        using var dir = new TempDir();
        var cfg = new TrainConfig
        {
            Model = "deeplab-resnet34", Widths = new[] { 8, 8, 16, 16 }, Blocks = new[] { 1, 1, 1, 1 }, HeadWidth = 16,
            Size = 32, TrainCount = 8, ValCount = 4, Iterations = 2, Batch = 2, EvalEvery = 2, Output = dir.File("d"),
        };
        var r = new Trainer(cfg).Run();
        var (model, _) = Checkpoint.Load(r.BestCheckpoint);
        Assert.Equal("deeplab-resnet34", model.Spec.Name);
        using (MtlPrune.Engine.Autograd.NoGrad())
            Assert.Equal(new[] { 1, 13, 5, 5 }, model.ForwardAll(MtlPrune.Engine.Tensor.Zeros(1, 3, 32, 32))["seg"].Shape);   // 32 → 16 → 9 (ceil-mode pool) → 5; no upsampling
        Assert.InRange(r.BestEvaluation.Metrics["seg"]["pixAcc"], 0, 1);       // metrics at full resolution after nearest upsampling
    }

    [Fact]
    public void MobileNetV2ForwardAndBackward()
    {
        var spec = ModelSpec.MobileNetV2(new[] { new TaskSpec("seg", TaskKind.Segmentation, 5), new TaskSpec("cls", TaskKind.Classification, 3) }) with { HeadWidth = 8 };
        var m = ModelFactory.Build(spec, 1);
        var x = MtlPrune.Engine.Tensor.Normal(new[] { 2, 3, 64, 64 }, new MtlPrune.Engine.Rng(2));
        var o = m.ForwardAll(x);
        Assert.Equal(new[] { 2, 5, 2, 2 }, o["seg"].Shape);                   // output stride 32
        Assert.Equal(new[] { 2, 3 }, o["cls"].Shape);
        var loss = m.Task("seg").Loss(o["seg"], MtlPrune.Engine.Tensor.Zeros(2, 2, 2)) + m.Task("cls").Loss(o["cls"], MtlPrune.Engine.Tensor.FromArray(new float[] { 0, 2 }, 2));
        loss.Backward();
        Assert.All(m.Parameters(), p => Assert.NotNull(p.Grad));
    }
}
