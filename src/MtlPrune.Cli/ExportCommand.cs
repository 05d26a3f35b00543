using System.CommandLine;
using System.Globalization;
using MtlPrune.Deploy;
using MtlPrune.Interop;
using MtlPrune.Training;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune export</c>: an MtlPrune checkpoint → a file for other tools or for deployment.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "An MtlPrune checkpoint (dense, pruned or imported), or the directory of a prune or train run.", Required = true };
        var format = new Option<string>("--format") { Description = "pytorch: a safetensors file with PyTorch names, for load_state_dict in your own code; mtlp: a compact model for `mtlprune infer` and CompactModel (BN folded, sparse storage); onnx: ONNX opset 17 (BN folded, one output per task).", DefaultValueFactory = _ => "pytorch" };
        var layout = new Option<string>("--layout") { Description = "pytorch: names to write: scenenet (AdaShare / DiSparse / CUT DeepLab-ResNet) or mtlprune.", DefaultValueFactory = _ => "mtlprune" };
        var masks = new Option<string>("--masks") { Description = "pytorch: none: plain weights with pruned entries 0 (load_state_dict into the unpruned model); torch: torch.nn.utils.prune's weight_orig + weight_mask (load after prune.identity on each pruned layer).", DefaultValueFactory = _ => "none" };
        var tasks = new Option<string?>("--tasks") { Description = "mtlp: keep only these tasks (default: all the checkpoint's tasks)." };
        var fp16 = new Option<bool>("--fp16") { Description = "mtlp: store values as fp16 (half the value bytes; outputs change by about 1e-3 relative)." };
        var structured = new Option<bool>("--structured") { Description = "mtlp: also remove channels that are zero for every input (whole pruned filters, see `prune --granularity filter`)." };
        var sparseInit = new Option<bool>("--sparse-initializers") { Description = "onnx: store a weight as a sparse_initializer when that is smaller (about 1/3 density or less). Not every runtime reads them." };
        var inputSize = new Option<string?>("--input-size") { Description = "mtlp: the input size HxW to prepare for at load (default: the training size of the built-in scenes; otherwise chosen at the first run)." };
        var output = new Option<string>("--out") { Description = "The file to write.", Required = true };
        var force = new Option<bool>("--force") { Description = "Overwrite --out if it exists." };
        var cmd = new Command("export", "Export a checkpoint: PyTorch names in a safetensors file, a compact sparse model (.mtlp) for deployment, or ONNX.")
            { checkpoint, format, layout, masks, tasks, fp16, structured, sparseInit, inputSize, output, force };
        cmd.SetAction(p =>
        {
            var o = p.GetValue(output)!;
            if (File.Exists(o) && !p.GetValue(force)) throw new ArgumentException($"--out: '{o}' already exists; pass --force to overwrite it.");
            var f = CliParsing.Choice(p.GetValue(format)!, "--format", "pytorch", "mtlp", "onnx");
            var path = Checkpoint.Resolve(p.GetValue(checkpoint)!);
            var (model, meta) = Checkpoint.Load(path);
            if (p.GetValue(tasks) is string t)
            {
                var keep = CliParsing.List(t).ToArray();
                foreach (var k in keep)
                    if (model.Tasks.All(x => x.Name != k)) throw new ArgumentException($"--tasks: '{path}' has no task '{k}' (its tasks: {string.Join(", ", model.Tasks.Select(x => x.Name))}).");
                model = model.SelectTasks(keep);
            }
            if (f == "onnx")
            {
                var g = CompactExport.Build(model, meta, path, p.GetValue(inputSize) is string sz ? CliParsing.Size(sz, "--input-size") : null, p.GetValue(structured));
                var sum = Deploy.Onnx.OnnxExport.Write(g, o, p.GetValue(sparseInit));
                ConsoleUi.Line(Markup.Escape(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"wrote {o}: ONNX opset {Deploy.Onnx.OnnxExport.Opset}, input 'input' [batch, {g.InputChannels}, height, width], outputs {string.Join(", ", g.Outputs.Select(x => x.Key))}; " +
                    $"{sum.Nodes} nodes, {sum.Initializers} dense and {sum.SparseInitializers} sparse initializers, {sum.Bytes / 1048576.0:F2} MiB")));
                return 0;
            }
            if (f == "mtlp") return Mtlp(model, meta, path, o, p.GetValue(fp16), p.GetValue(structured), p.GetValue(inputSize) is string s ? CliParsing.Size(s, "--input-size") : null);
            var m = CliParsing.Choice(p.GetValue(masks)!, "--masks", "none", "torch") == "torch" ? ExportMasks.Torch : ExportMasks.None;
            var l = Layouts.Get(p.GetValue(layout)!);
            PyTorchExport.Write(model, l, o, m);
            ConsoleUi.Line(Markup.Escape($"wrote {o}: {model.StateDict().Count} tensors with {l.Name} names" +
                (l.Name == "scenenet" ? $" (task1…task{model.Tasks.Count} = {string.Join(", ", model.Tasks.Select(t => t.Name))})" : "") +
                (m == ExportMasks.Torch ? ", masks as weight_orig + weight_mask" : "")));
            return 0;
        });
        return cmd;
    }

    private static int Mtlp(Models.MultiTaskModel model, IReadOnlyDictionary<string, string> meta, string source, string output, bool fp16, bool structured, (int, int)? size)
    {
        var g = CompactExport.Build(model, meta, source, size, structured);
        var table = MtlpFile.Write(g, output, fp16);
        var ins = ModelInspection.Of(output);
        var ci = CultureInfo.InvariantCulture;
        ConsoleUi.Line(Markup.Escape($"wrote {output}: tasks {string.Join(", ", ins.Tasks)}; {g.Nodes.Count} operations (batch norm folded), {table.Count} tensors " +
            $"({string.Join(", ", table.GroupBy(x => x.Encoding).OrderBy(x => x.Key).Select(x => $"{x.Count()} {x.Key}"))}), values in {(fp16 ? "fp16" : "fp32")}"));
        ConsoleUi.Line(Markup.Escape(ins.SizeLine()));
        return 0;
    }
}
