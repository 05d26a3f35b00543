using System.CommandLine;
using MtlPrune.Interop;
using MtlPrune.Training;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune export</c>: an MtlPrune checkpoint → a file for other tools.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "An MtlPrune checkpoint (dense, pruned or imported).", Required = true };
        var format = new Option<string>("--format") { Description = "pytorch: a safetensors file with PyTorch names, for load_state_dict in your own code.", DefaultValueFactory = _ => "pytorch" };
        var layout = new Option<string>("--layout") { Description = "Names to write: scenenet (AdaShare / DiSparse / CUT DeepLab-ResNet) or mtlprune.", DefaultValueFactory = _ => "mtlprune" };
        var masks = new Option<string>("--masks") { Description = "none: plain weights with pruned entries 0 (load_state_dict into the unpruned model); torch: torch.nn.utils.prune's weight_orig + weight_mask (load after prune.identity on each pruned layer).", DefaultValueFactory = _ => "none" };
        var output = new Option<string>("--out") { Description = "The file to write.", Required = true };
        var force = new Option<bool>("--force") { Description = "Overwrite --out if it exists." };
        var cmd = new Command("export", "Export a checkpoint for other tools: PyTorch names in a safetensors file.") { checkpoint, format, layout, masks, output, force };
        cmd.SetAction(p =>
        {
            var o = p.GetValue(output)!;
            if (File.Exists(o) && !p.GetValue(force)) throw new ArgumentException($"--out: '{o}' already exists; pass --force to overwrite it.");
            CliParsing.Choice(p.GetValue(format)!, "--format", "pytorch");
            var m = CliParsing.Choice(p.GetValue(masks)!, "--masks", "none", "torch") == "torch" ? ExportMasks.Torch : ExportMasks.None;
            var (model, _) = Checkpoint.Load(p.GetValue(checkpoint)!);
            var l = Layouts.Get(p.GetValue(layout)!);
            PyTorchExport.Write(model, l, o, m);
            ConsoleUi.Line(Markup.Escape($"wrote {o}: {model.StateDict().Count} tensors with {l.Name} names" +
                (l.Name == "scenenet" ? $" (task1…task{model.Tasks.Count} = {string.Join(", ", model.Tasks.Select(t => t.Name))})" : "") +
                (m == ExportMasks.Torch ? ", masks as weight_orig + weight_mask" : "")));
            return 0;
        });
        return cmd;
    }
}
