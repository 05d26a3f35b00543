using System.CommandLine;
using System.Text.Json;
using MtlPrune.Bench;
using MtlPrune.Diagnostics;
using MtlPrune.Engine.Inference;
using MtlPrune.Engine.IO;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune bench engine</c>: kernel and training-step benchmarks against the measured peak.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file." };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the results as a Markdown table to this file." };
        var runs = new Option<int>("--runs") { Description = "Timed runs per workload (at least 5), after warm-up.", DefaultValueFactory = _ => 7 };
        var quick = new Option<bool>("--quick") { Description = "Skip the per-layer convolution list and the 128x128 training step." };
        var filter = new Option<string?>("--filter") { Description = "Only workloads whose name contains this text (gemm 1024, conv3x3 64->64, resnet-mini, depthwise, elementwise, training step 64, training step 128, inference, deeplab inference, deeplab training step)." };
        var profile = new Option<bool>("--profile") { Description = "Also print where the resnet-mini training step's time goes, per op (forward and backward)." };
        var engine = new Command("engine", "FMA peak, GEMM, convolution, batch norm, elementwise, resnet-mini and DeepLab-ResNet34 training steps and inference, each against the peak measured in the same run.") { json, markdown, runs, quick, filter, profile };
        engine.SetAction(parse =>
        {
            var bench = new EngineBench(parse.GetValue(runs));
            AnsiConsole.Status().Start("benchmarking", ctx => { bench = new EngineBench(parse.GetValue(runs), s => ctx.Status($"benchmarking: {Markup.Escape(s)}"), parse.GetValue(filter)); bench.RunAll(parse.GetValue(quick)); });
            var table = new Table().AddColumns("workload", "median ms", "min ms", "max ms", "GFLOP/s", "of peak", "GB/s", "goal", "met");
            foreach (var r in bench.Results)
                table.AddRow(Markup.Escape(r.Name), Fmt(r.MedianMs), Fmt(r.MinMs), Fmt(r.MaxMs), Fmt(r.Gflops), r.PeakFraction is double f ? $"{f:P0}" : "",
                    Fmt(r.GBytesPerSecond), Markup.Escape(r.Goal ?? ""), r.GoalMet switch { true => "[green]yes[/]", false => "[red]no[/]", _ => "" });
            AnsiConsole.Write(table);
            if (parse.GetValue(profile))
            {
                var prof = EngineBench.ProfileTrainStep();
                double total = prof.Sum(r => r.MsPerStep);
                var pt = new Table().Title("resnet-mini training step (batch 8, 3x64x64): time per op").AddColumns("op", "pass", "ms / step", "share", "calls / step");
                foreach (var r in prof.Where(r => r.MsPerStep >= 0.05))
                    pt.AddRow(Markup.Escape(r.Op), r.Pass, r.MsPerStep.ToString("F2"), $"{r.MsPerStep / total:P0}", r.CallsPerStep.ToString("F0"));
                AnsiConsole.Write(pt);
            }
            AnsiConsole.MarkupLine($"peak working set: {System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:F0} MiB");
            if (parse.GetValue(json) is string path)
            {
                var doc = new { machine = SystemReport.Current(), peak1 = bench.Peak1, peak = bench.Peak2, results = bench.Results };
                AtomicFile.WriteAllText(path, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            }
            if (parse.GetValue(markdown) is string md)
            {
                var m = SystemReport.Current();
                var text = $"Machine: {m.Cpu}, {m.Cores} cores, {m.SimdWidthBits}-bit SIMD, {m.Runtime}. Peak measured in this run: " +
                    $"{bench.Peak1:F0} GFLOP/s (1 thread), {bench.Peak2:F0} GFLOP/s ({m.Cores} threads).\n\n" + bench.ToMarkdown();
                AtomicFile.WriteAllText(md, text);
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(md)}");
            }
            int missed = bench.Results.Count(r => r.GoalMet == false);
            if (missed > 0) AnsiConsole.MarkupLine($"[yellow]{missed} goal(s) missed in this run[/]");
            return 0;
        });
        var cmd = new Command("bench", "Benchmarks.") { engine, Infer() };
        return cmd;
    }

    /// <summary><c>mtlprune bench infer</c>: batch-1 latency of dense, masked, compact sparse and structured models.</summary>
    private static Command Infer()
    {
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file." };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the results as a Markdown table to this file." };
        var runs = new Option<int>("--runs") { Description = "Timed runs per model (at least 3), after warm-up; fast models get more, as many as fill a second of runs paired with the dense model.", DefaultValueFactory = _ => 9 };
        var networks = new Option<string>("--networks") { Description = "Networks and input sizes, name:HxW, comma-separated.", DefaultValueFactory = _ => "resnet-mini:128x128,deeplab-resnet34:288x384" };
        var sparsity = new Option<string>("--sparsity") { Description = "Sparsities, comma-separated.", DefaultValueFactory = _ => "0.5,0.7,0.9" };
        var layers = new Option<bool>("--layers") { Description = "Also print each convolution's kernel choice (dense or sparse) and the times measured for it at load." };
        var cmd = new Command("infer", "Batch-1 inference: dense vs masked vs compact sparse (.mtlp) vs structurally compacted, with MACs, file sizes and speed-ups over our own dense inference in the same run.")
            { networks, sparsity, runs, json, markdown, layers };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(runs) < 3) throw new ArgumentException("--runs must be at least 3.");
            var nets = CliParsing.List(parse.GetValue(networks)).Select(n =>
            {
                var parts = n.Split(':');
                if (parts.Length != 2 || !Models.ModelSpec.PresetNames.Contains(parts[0])) throw new ArgumentException($"--networks: '{n}' is not name:HxW with a name among {string.Join(", ", Models.ModelSpec.PresetNames)}.");
                var (h, w) = CliParsing.Size(parts[1], "--networks");
                return (parts[0], h, w);
            }).ToList();
            var sparsities = CliParsing.List(parse.GetValue(sparsity)).Select(v => double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) && d > 0 && d < 1
                ? d : throw new ArgumentException($"--sparsity: '{v}' is not a number in (0, 1).")).ToList();
            var ci = System.Globalization.CultureInfo.InvariantCulture;
            var bench = new InferenceBench(parse.GetValue(runs));
            AnsiConsole.Status().Start("benchmarking", ctx => { bench = new InferenceBench(parse.GetValue(runs), s => ctx.Status($"benchmarking: {Markup.Escape(s)}")); bench.Run(nets, sparsities); });
            var table = new Table().AddColumns("network", "sparsity", "model", "median ms", "min ms", "max ms", "MACs", "file MiB", "speed-up", "GFLOP/s", "of peak", "sparse layers", "goal", "met");
            foreach (var r in bench.Rows)
                table.AddRow(Markup.Escape($"{r.Network} {r.Input}"), r.Sparsity == 0 ? "0" : r.Sparsity.ToString("P0", ci), Markup.Escape(r.Model), Fmt(r.MedianMs), Fmt(r.MinMs), Fmt(r.MaxMs),
                    ((r.Model.StartsWith("masked") || r.Model == "dense" ? r.Macs : r.NonzeroMacs) / 1e6).ToString("F1", ci) + " M", (r.FileBytes / 1048576.0).ToString("F2", ci),
                    r.SpeedUp.ToString("F2", ci) + "x", Fmt(r.Gflops), r.PeakFraction is double f ? f.ToString("P0", ci) : "", $"{r.SparseLayers}/{r.ConvLayers}",
                    Markup.Escape(r.Goal ?? ""), r.GoalMet switch { true => "[green]yes[/]", false => "[red]no[/]", _ => "" });
            AnsiConsole.Write(table);
            if (parse.GetValue(layers))
            {
                var pt = new Table().Title("time per operation type (ms, each operation timed alone)").AddColumns(new[] { "network", "sparsity", "model" }.Concat(Enum.GetNames<Deploy.GraphOp>()).ToArray());
                foreach (var (row, prof) in bench.Profiles)
                {
                    var r = bench.Rows[row];
                    pt.AddRow(new[] { Markup.Escape($"{r.Network} {r.Input}"), r.Sparsity.ToString("P0", ci), Markup.Escape(r.Model) }
                        .Concat(Enum.GetNames<Deploy.GraphOp>().Select(op => prof.Where(p => p.Op == op).Sum(p => p.Ms) is var v && v > 0 ? v.ToString("F3", ci) : "")).ToArray());
                }
                AnsiConsole.Write(pt);
            }
            if (parse.GetValue(layers))
                foreach (var (row, choices) in bench.Choices)
                {
                    var r = bench.Rows[row];
                    var lt = new Table().Title(Markup.Escape($"{r.Network} {r.Input} {r.Sparsity:P0} {r.Model}: kernel per convolution")).AddColumns("layer", "density", "dense ms", "sparse ms", "chosen", "MACs", "nonzero MACs");
                    foreach (var c in choices)
                        lt.AddRow(Markup.Escape(c.Layer), c.Density.ToString("P1", ci), c.DenseMs.ToString("F3", ci), double.IsFinite(c.SparseMs) ? c.SparseMs.ToString("F3", ci) : "-",
                            Chosen(c), c.Macs.ToString("N0", ci), c.NonzeroMacs.ToString("N0", ci));
                    AnsiConsole.Write(lt);
                }
            // Tiling, packing and block size describe the sparse kernel's fastest variant; shown only when the sparse kernel was chosen.
            static string Chosen(Deploy.LayerChoice c) => c.Kind.ToString().ToLowerInvariant()
                + (c.Kind == ConvKind.Sparse && c.Tiling == SparseTiling.Vectors ? ", vector tiles" : "") + (c.Kind == ConvKind.Sparse && c.Tiling == SparseTiling.Positions ? ", position tiles" : "") + (c.Kind == ConvKind.Sparse && c.Packed && c.Tiling != SparseTiling.Positions ? ", packed" : "")
                + (c.Kind == ConvKind.Sparse && c.NonzerosPerBlock != InferenceConv.DefaultNonzerosPerBlock ? $", blocks of {c.NonzerosPerBlock}+ nonzeros" : "") + (c.WideInput ? ", wide rows" : "")
                + (c.Kind == ConvKind.Sparse && c.Split == SparseSplit.Tiles ? ", cores split tiles" : "")
                + (c.Copies ? ", shifted copies" : "");
            foreach (var n in bench.Notes) AnsiConsole.MarkupLine(Markup.Escape(n));
            AnsiConsole.MarkupLine(Markup.Escape(string.Create(ci, $"FMA peak measured in this run: {bench.Peak:F0} GFLOP/s ({Environment.ProcessorCount} threads)")));
            var m = SystemReport.Current();
            if (parse.GetValue(json) is string path)
            {
                AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { machine = m, peak = bench.Peak, notes = bench.Notes, results = bench.Rows }, new JsonSerializerOptions { WriteIndented = true }));
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            }
            if (parse.GetValue(markdown) is string md)
            {
                AtomicFile.WriteAllText(md, string.Create(ci, $"Machine: {m.Cpu}, {m.Cores} cores, {m.SimdWidthBits}-bit SIMD, {m.Runtime}. FMA peak measured in this run: {bench.Peak:F0} GFLOP/s.\n\n")
                    + string.Join("\n", bench.Notes) + "\n\n" + bench.ToMarkdown());
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(md)}");
            }
            int missed = bench.Rows.Count(r => r.GoalMet == false);
            if (missed > 0) AnsiConsole.MarkupLine($"[yellow]{missed} goal(s) missed in this run[/]");
            return 0;
        });
        return cmd;
    }

    private static string Fmt(double? v) => v is double d && d != 0 ? (d >= 100 ? d.ToString("F0") : d.ToString("F2")) : "";
}
