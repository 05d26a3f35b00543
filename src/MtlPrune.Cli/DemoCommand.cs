using System.CommandLine;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary>
/// <c>mtlprune demo</c>: the main job end to end on the committed dense model (resnet-mini trained on the built-in scenes
/// for seg, depth and normal): keep seg and depth, prune with CUT to 90% sparsity, fine-tune, evaluate and report.
/// </summary>
internal static class DemoCommand
{
    /// <summary>The committed dense checkpoint, copied beside the executable.</summary>
    public static string DefaultCheckpoint => Path.Combine(AppContext.BaseDirectory, "models", "resnet-mini-scenes64.safetensors");

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Output directory.", DefaultValueFactory = _ => Path.Combine("runs", "demo-cut") };
        var checkpoint = new Option<string>("--checkpoint") { Description = "The dense checkpoint (default: the committed demo model).", DefaultValueFactory = _ => DefaultCheckpoint };
        var force = new Option<bool>("--force") { Description = "Replace a different run already in --out." };
        var cmd = new Command("demo", "Prune the committed demo model with CUT: keep seg and depth of its three tasks, 90% sparsity (or fusion), 1000 fine-tuning steps (lr 2e-4, batch-norm statistics frozen), evaluate on 200 test scenes, report.")
            { output, checkpoint, force };
        cmd.SetAction(p =>
        {
            var options = Options(p.GetValue(checkpoint)!, p.GetValue(output)!);
            ConsoleUi.Line(Markup.Escape("demo: the dense model predicts seg, depth and normals of the built-in 64x64 scenes; an edge device needs only seg and depth."));
            int code = PruneCommand.Execute(options, Method(), dryRun: false, force: p.GetValue(force));
            if (code == 0) Deploy(options);
            return code;
        });
        return cmd;
    }

    /// <summary>
    /// The demo's settings; the README's table comes from them. Fine-tuning departs from the reference defaults in two
    /// measured ways (README, "Fine-tuning a pruned model"): batch-norm statistics frozen, and lr 2e-4 — the reference's
    /// ratio of fine-tune to base learning rate (1e-5 / 1e-4) applied to this model's base rate of 2e-3.
    /// </summary>
    public static PruneOptions Options(string checkpoint, string output) => new()
    {
        Checkpoint = checkpoint, Tasks = new[] { "seg", "depth" }, Sparsity = 0.9, Output = output,
        FinetuneIterations = 1000, EvalEvery = 100, Lr = 2e-4, BatchNorm = "frozen",
    };

    public static IPruningMethod Method() => new Cut(new CutOptions { Fusion = Fusion.Or });

    /// <summary>
    /// The last step of the main job: the pruned model as a compact file (<c>model.mtlp</c> beside the checkpoint), its
    /// size against the dense fp32 model, and its batch-1 latency against our dense inference of the same tasks, timed
    /// alternately in this run.
    /// </summary>
    private static void Deploy(PruneOptions options)
    {
        var pruned = Path.Combine(options.Output, "pruned.safetensors");
        var file = Path.Combine(options.Output, "model.mtlp");
        var (model, meta) = Training.Checkpoint.Load(pruned);
        var graph = MtlPrune.Deploy.CompactExport.Build(model, meta, pruned);
        MtlPrune.Deploy.MtlpFile.Write(graph, file);
        var ins = MtlPrune.Deploy.ModelInspection.Of(file);
        var (h, w) = (int.Parse(graph.Metadata["inputHeight"]), int.Parse(graph.Metadata["inputWidth"]));
        var (denseModel, _) = Training.Checkpoint.Load(options.Checkpoint);
        var dense = new MtlPrune.Deploy.CompactModel(MtlPrune.Deploy.GraphPasses.Optimize(MtlPrune.Deploy.ModelLowering.Lower((Models.MultiTaskModel)denseModel.SelectTasks(options.Tasks.ToArray()).Eval())), (h, w));
        dense.ForceKernels(Engine.Inference.ConvKind.Dense);
        var compact = MtlPrune.Deploy.CompactModel.Load(file);
        var x = Engine.Tensor.Normal(new[] { 1, graph.InputChannels, h, w }, new Engine.Rng(1)).ToArray();
        Dictionary<string, float[]> Buffers(MtlPrune.Deploy.CompactModel m) => m.Tasks.ToDictionary(t => t, t => new float[m.OutputShape(t, 1, h, w).Aggregate(1, (a, b) => a * b)]);
        var bd = Buffers(dense); var bc = Buffers(compact);
        var (td, tc) = Bench.BenchTimer.Paired(() => dense.Run(x, 1, h, w, bd), () => compact.Run(x, 1, h, w, bc), runs: 31, warmup: 5);
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        ConsoleUi.Line(Markup.Escape(string.Create(ci,
            $"deploy: wrote {file}: {ins.FileBytes / 1048576.0:F2} MiB, {ins.FileShareOfDense:P1} of the dense fp32 model ({ins.DenseFp32Bytes / 1048576.0:F2} MiB); " +
            $"batch-1 {h}x{w} latency: dense {td.MedianMs:F2} ms, compact sparse {tc.MedianMs:F2} ms ({td.MedianMs / tc.MedianMs:F2}x; {(double)ins.Macs / ins.NonzeroMacs:F1}x fewer MACs)")));
        ConsoleUi.Line(Markup.Escape($"next: mtlprune infer --model {file} --image photo.png --out seen/   (or export --format onnx)"));
    }
}
