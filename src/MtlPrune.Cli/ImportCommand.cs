using System.CommandLine;
using MtlPrune.Interop;
using MtlPrune.Pruning;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune import</c>: a PyTorch checkpoint (torch.save or safetensors, PyTorch names) → an MtlPrune checkpoint.</summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A torch.save file (.pth, .pt, .bin) or a safetensors file with PyTorch names." };
        var layout = new Option<string>("--layout") { Description = "Name layout: auto (default: detected from the names), scenenet (AdaShare / DiSparse / CUT / AdapMTL DeepLab-ResNet) or mtlprune.", DefaultValueFactory = _ => "auto" };
        var tasks = new Option<string?>("--tasks") { Description = "Tasks in head order, name[=kind][:channels], e.g. seg:40,normal:3,depth:1 (required for scenenet files, which do not name their tasks; channels are checked against the file)." };
        var ignore = new Option<int>("--ignore-index") { Description = "Label ignored by segmentation losses and metrics (255 for AdaShare's NYUv2, -1 for Cityscapes and MTAN).", DefaultValueFactory = _ => 255 };
        var output = new Option<string>("--out") { Description = "The MtlPrune checkpoint to write (.safetensors).", Required = true };
        var force = new Option<bool>("--force") { Description = "Overwrite --out if it exists." };
        var cmd = new Command("import", "Import a PyTorch multi-task checkpoint: reads torch.save files without Python (nothing in them is executed), infers the architecture from the shapes, and writes an MtlPrune checkpoint.")
            { file, layout, tasks, ignore, output, force };
        cmd.SetAction(p =>
        {
            var o = p.GetValue(output)!;
            if (File.Exists(o) && !p.GetValue(force)) throw new ArgumentException($"--out: '{o}' already exists; pass --force to overwrite it.");
            var requests = p.GetValue(tasks) is string t ? TaskRequest.ParseList(t) : null;
            var r = PyTorchImport.Import(p.GetValue(file)!, p.GetValue(layout)!, requests, p.GetValue(ignore));
            ConsoleUi.Line(Markup.Escape($"read {r.Source} ({r.Format}); layout {r.Layout}"));
            foreach (var n in r.Notes) ConsoleUi.Line(Markup.Escape("  note: " + n));
            foreach (var i in r.Inferred) ConsoleUi.Line(Markup.Escape("  inferred: " + i));
            var masks = MaskSet.FromModel(r.Model);
            ConsoleUi.Line(Markup.Escape($"model {r.Model.Spec.Name}: {r.Model.ParameterCount():N0} parameters, tasks {string.Join(", ", r.Model.Tasks.Select(x => $"{x.Name} ({x.Kind}, {x.Channels})"))}" +
                (masks.Count > 0 ? $"; {masks.Count} masked weights at {1 - (double)masks.TotalKept / masks.TotalNumel:P2} sparsity" : "")));
            PyTorchImport.Save(r, o);
            ConsoleUi.Line(Markup.Escape($"wrote {o}"));
            return 0;
        });
        return cmd;
    }
}
