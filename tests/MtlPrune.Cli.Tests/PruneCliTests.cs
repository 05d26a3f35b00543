using System.Text.Json;
using MtlPrune.Cli;
using Spectre.Console;

namespace MtlPrune.Cli.Tests;

/// <summary>`mtlprune prune` and `mtlprune demo` as a user runs them.</summary>
[Collection("console")]
public class PruneCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mtlprune-prune-cli-{Guid.NewGuid():N}");
    private readonly string _dense;

    public PruneCliTests()
    {
        Directory.CreateDirectory(_dir);
        var (code, output) = CliRunner.Run("train", "--iterations", "2", "--eval-every", "2", "--size", "16", "--train-count", "8", "--val-count", "4",
            "--batch", "4", "--widths", "4,4,8,8", "--blocks", "1,1,1,1", "--head-width", "4", "--output", Path.Combine(_dir, "dense"));
        Assert.True(code == 0, output);
        _dense = Path.Combine(_dir, "dense", "best.safetensors");
    }

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    /// <summary>A small prune command line; <paramref name="more"/> adds options or replaces the defaults ("--dry-run" alone is a flag).</summary>
    private string[] Prune(string output, params string[] more)
    {
        var opts = new List<(string Key, string? Value)>
        {
            ("--checkpoint", _dense), ("--tasks", "seg,depth"), ("--sparsity", "0.8"), ("--out", Path.Combine(_dir, output)), ("--finetune-iters", "2"),
            ("--eval-every", "2"), ("--calib-batches", "2"), ("--test-count", "4"), ("--fusion", "or"),
        };
        for (int i = 0; i < more.Length; i++)
        {
            bool flag = i + 1 >= more.Length || more[i + 1].StartsWith("--");
            var value = flag ? null : more[++i];
            int at = opts.FindIndex(o => o.Key == more[flag ? i : i - 1]);
            if (at >= 0) opts[at] = (opts[at].Key, value); else opts.Add((more[flag ? i : i - 1], value));
        }
        return new[] { "prune" }.Concat(opts.SelectMany(o => o.Value is null ? new[] { o.Key } : new[] { o.Key, o.Value })).ToArray();
    }

    [Fact]
    public void DryRunListsTheSelectionAndWritesNothing()
    {
        var (code, output) = CliRunner.Run(Prune("dry", "--dry-run", "--roles", "backbone", "--exclude", "backbone.conv1"));
        Assert.Equal(0, code);
        Assert.Contains("backbone.layer1.0.conv1.weight", output);
        Assert.DoesNotContain("heads.seg.conv1.weight", output);
        Assert.DoesNotContain("│ backbone.conv1.weight", output);
        Assert.Contains("dry run", output);
        Assert.False(Directory.Exists(Path.Combine(_dir, "dry")));
    }

    [Fact]
    public void PruneWritesTheCheckpointAndReportsWithPlainProgress()
    {
        var (code, output) = CliRunner.Run(Prune("run"));
        Assert.True(code == 0, output);
        Assert.Contains("fine-tuning 2/2 (100%)", output);          // plain progress lines, no animation
        Assert.False(output.Contains('\u001b'), "escape codes in piped output");
        Assert.Contains("ΔT %", output);
        foreach (var f in new[] { "pruned.safetensors", "report.md", "report.json", "prune-settings.json", "finetune/metrics.csv", "finetune/curves.svg" })
            Assert.True(File.Exists(Path.Combine(_dir, "run", f)), f);
        var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "run", "report.json"))).RootElement;
        Assert.Equal(new[] { "seg", "depth" }, report.GetProperty("keptTasks").EnumerateArray().Select(e => e.GetString()));
        var (evalCode, evalOutput) = CliRunner.Run("eval", "--checkpoint", Path.Combine(_dir, "run", "pruned.safetensors"), "--size", "16", "--count", "4");
        Assert.Equal(0, evalCode);
        Assert.Contains("pruned checkpoint: cut", evalOutput);
        Assert.DoesNotContain("normal", evalOutput);
    }

    [Fact]
    public void BadInputGivesExitCodeOneAndNamesTheFault()
    {
        var cases = new (string[] Args, string Expected)[]
        {
            (Prune("a", "--tasks", "seg,edges"), "edges"),
            (Prune("b", "--sparsity", "1.5"), "--sparsity"),
            (Prune("c", "--sparsity", "0"), "--sparsity"),
            (Prune("d", "--fusion", "xor"), "--fusion"),
            (Prune("e", "--fusion", "vote:3"), "vote:3"),
            (Prune("f", "--method", "lottery"), "--method"),
            (Prune("g", "--layer-types", "lstm"), "--layer-types"),
            (Prune("h", "--bn", "sometimes"), "--bn"),
            (new[] { "prune", "--checkpoint", Path.Combine(_dir, "dense", "config.json"), "--tasks", "seg", "--sparsity", "0.5", "--out", Path.Combine(_dir, "i") }, "config.json"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, output) = CliRunner.Run(args);
            Assert.True(code == 1, $"{string.Join(" ", args)} → exit {code}: {output}");
            Assert.Contains(expected, output);
        }
        var plain = Path.Combine(_dir, "plain.safetensors");
        MtlPrune.Engine.IO.SafeTensors.Write(plain, new Dictionary<string, MtlPrune.Engine.Tensor> { ["w"] = MtlPrune.Engine.Tensor.Ones(2) });
        var (pc, po) = CliRunner.Run("prune", "--checkpoint", plain, "--tasks", "seg", "--sparsity", "0.5", "--out", Path.Combine(_dir, "j"));
        Assert.Equal(1, pc);
        Assert.Contains("not an MtlPrune multi-task checkpoint", po);
    }

    [Fact]
    public void AnotherRunInTheOutputIsKeptUnlessForced()
    {
        Assert.Equal(0, CliRunner.Run(Prune("out")).Code);
        var report = File.ReadAllText(Path.Combine(_dir, "out", "report.json"));
        var (code, output) = CliRunner.Run(Prune("out", "--sparsity", "0.5"));
        Assert.Equal(1, code);
        Assert.Contains("--force", output);
        Assert.Equal(report, File.ReadAllText(Path.Combine(_dir, "out", "report.json")));
        Assert.Equal(0, CliRunner.Run(Prune("out", "--sparsity", "0.5", "--force")).Code);
        Assert.NotEqual(report, File.ReadAllText(Path.Combine(_dir, "out", "report.json")));
    }

    [Fact]
    public void CompareWritesTablesAndPlotsAndResumes()
    {
        var args = new[] { "compare", "--checkpoint", _dense, "--tasks", "seg,depth", "--methods", "magnitude,random", "--sparsity", "0.6", "--out", Path.Combine(_dir, "cmp"),
            "--finetune-iters", "2", "--eval-every", "2", "--test-count", "4" };
        var (code, output) = CliRunner.Run(args);
        Assert.True(code == 0, output);
        Assert.Contains("2 runs: 2 ran, 0 reused", output);
        foreach (var f in new[] { "compare.md", "compare.csv", "compare.json", "deltat-vs-sparsity.svg", "component-sparsity.svg", "metric-vs-sparsity.svg" })
            Assert.True(File.Exists(Path.Combine(_dir, "cmp", f)), f);
        (code, output) = CliRunner.Run(args);
        Assert.Equal(0, code);
        Assert.Contains("2 runs: 0 ran, 2 reused", output);
        // Two seeds planned, one finished: report-only tabulates it and runs nothing.
        (code, output) = CliRunner.Run(args.Concat(new[] { "--seeds", "2", "--report-only" }).ToArray());
        Assert.True(code == 0, output);
        Assert.Contains("2 runs: 0 ran, 2 reused from earlier, 0 failed, 2 not finished yet (left out)", output);
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(_dir, "cmp", "runs")).Length);
        (code, output) = CliRunner.Run("compare", "--checkpoint", _dense, "--methods", "magnitude", "--sparsity", "0.3", "--out", Path.Combine(_dir, "cmp"), "--report-only");
        Assert.Equal(1, code);
        Assert.Contains("none of the 1 planned run(s)", output);
        (code, output) = CliRunner.Run("compare", "--checkpoint", _dense, "--methods", "magnitude,lottery", "--out", Path.Combine(_dir, "cmp2"));
        Assert.Equal(1, code);
        Assert.Contains("lottery", output);
    }

    [Fact]
    public void DemoFindsItsCheckpointBesideTheExecutable()
    {
        Assert.True(File.Exists(DemoCommand.DefaultCheckpoint), DemoCommand.DefaultCheckpoint);
        var o = DemoCommand.Options(DemoCommand.DefaultCheckpoint, "x");
        Assert.Equal(new[] { "seg", "depth" }, o.Tasks);
        Assert.Equal(0.9, o.Sparsity);
        var (code, output) = CliRunner.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("mtlprune [command]", output);
        Assert.Contains("demo", output);
        Assert.Contains("prune", output);
    }
}
