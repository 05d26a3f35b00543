using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MtlPrune.Deploy;
using MtlPrune.Engine.IO;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune inspect</c>: a per-layer table of a checkpoint or a compact model.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A checkpoint (dense or pruned), the directory of a prune or train run, or a .mtlp compact model." };
        var inputSize = new Option<string?>("--input-size") { Description = "Count MACs for one image of HxW (default: the size the file records, else 224x224)." };
        var json = new Option<string?>("--json") { Description = "Also write the table as JSON to this file." };
        var cmd = new Command("inspect", "Per-layer table of a model file: weight shape, density, storage, dense vs nonzero MACs, and the file size against the dense fp32 model.")
            { file, inputSize, json };
        cmd.SetAction(p =>
        {
            var ins = ModelInspection.Of(p.GetValue(file)!, p.GetValue(inputSize) is string s ? CliParsing.Size(s, "--input-size") : null);
            var ci = CultureInfo.InvariantCulture;
            ConsoleUi.Line(Markup.Escape($"{ins.File}: {ins.Kind}, model {ins.Model}, tasks {string.Join(", ", ins.Tasks)}; MACs for {ins.InputHeight}×{ins.InputWidth} ({ins.InputSizeSource})"));
            var t = new Table().AddColumns("layer", "op", "shape", "weights", "density", "storage", "bytes", "dense MACs", "nonzero MACs");
            foreach (var l in ins.Layers)
                t.AddRow(Markup.Escape(l.Layer), l.Op, string.Join("x", l.Shape), l.Weights.ToString("N0", ci), l.Density.ToString("P1", ci), Markup.Escape(l.Storage),
                    l.StoredBytes.ToString("N0", ci), l.Macs.ToString("N0", ci), l.NonzeroMacs.ToString("N0", ci));
            t.AddRow("[bold]total[/]", "", "", ins.Weights.ToString("N0", ci), ((double)ins.Nonzeros / ins.Weights).ToString("P1", ci), "",
                ins.Layers.Sum(l => l.StoredBytes).ToString("N0", ci), ins.Macs.ToString("N0", ci), ins.NonzeroMacs.ToString("N0", ci));
            AnsiConsole.Write(t);
            ConsoleUi.Line(Markup.Escape(ins.SizeLine()));
            if (p.GetValue(json) is string j)
                AtomicFile.WriteAllText(j, JsonSerializer.Serialize(ins, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
            return 0;
        });
        return cmd;
    }
}
