using System.CommandLine;
using System.Text.Json;
using MtlPrune.Bench;
using MtlPrune.Diagnostics;
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
        var filter = new Option<string?>("--filter") { Description = "Only workloads whose name contains this text (gemm 1024, conv3x3 64->64, resnet-mini, elementwise, training step 64, training step 128, inference)." };
        var profile = new Option<bool>("--profile") { Description = "Also print where the resnet-mini training step's time goes, per op (forward and backward)." };
        var engine = new Command("engine", "FMA peak, GEMM, convolution, batch norm, elementwise, resnet-mini training step and inference.") { json, markdown, runs, quick, filter, profile };
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
        var cmd = new Command("bench", "Benchmarks.") { engine };
        return cmd;
    }

    private static string Fmt(double? v) => v is double d && d != 0 ? (d >= 100 ? d.ToString("F0") : d.ToString("F2")) : "";
}
