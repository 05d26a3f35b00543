using System.Text.Json;
using MtlPrune.Cli;
using Spectre.Console;

namespace MtlPrune.Cli.Tests;

/// <summary>The commands as a user runs them: output, files written, exit codes for bad input.</summary>
[Collection("console")]
public class CliTests
{
    private static (int Code, string Output) Run(params string[] args) => CliRunner.Run(args);

    private static string Repo([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));

    [Fact]
    public void InfoReportsEngineSimdAndCores()
    {
        var (code, output) = Run("info", "--json");
        Assert.Equal(0, code);
        var doc = JsonDocument.Parse(output);
        Assert.Equal(Environment.ProcessorCount, doc.RootElement.GetProperty("Cores").GetInt32());
        Assert.Contains(doc.RootElement.GetProperty("SimdWidthBits").GetInt32(), new[] { 32, 128, 256, 512 });
    }

    [Fact]
    public void EvalOfTheCommittedDemoModelWritesJson()
    {
        var json = Path.Combine(Path.GetTempPath(), $"mtlprune-eval-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output) = Run("eval", "--checkpoint", Path.Combine(Repo(), "models", "resnet-mini-scenes64.safetensors"), "--count", "16", "--json", json);
            Assert.Equal(0, code);
            Assert.Contains("mIoU", output);
            var doc = JsonDocument.Parse(File.ReadAllText(json));
            Assert.InRange(doc.RootElement.GetProperty("metrics").GetProperty("seg").GetProperty("pixAcc").GetDouble(), 0.8, 1.0);
        }
        finally { File.Delete(json); }
    }

    [Fact]
    public void BadInputGivesExitCodeOneAndNamesTheFault()
    {
        var (code, output) = Run("train", "--data", "nyuv2-mtan", "--iterations", "1");
        Assert.Equal(1, code);
        Assert.Contains("--data-root", output);
        (code, output) = Run("train", "--optimizer", "lion", "--iterations", "1", "--output", Path.Combine(Path.GetTempPath(), "mtlprune-unused"));
        Assert.Equal(1, code);
        Assert.Contains("optimizer", output);
        (code, output) = Run("eval", "--checkpoint", "/nonexistent/model.safetensors");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/model.safetensors", output);
        (code, output) = Run("train", "--loss-weights", "seg:1", "--iterations", "1");
        Assert.Equal(1, code);
        Assert.Contains("--loss-weights", output);
    }

    [Fact]
    public void TrainFromFlagsWritesTheRunDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"mtlprune-cli-{Guid.NewGuid():N}");
        try
        {
            var (code, output) = Run("train", "--iterations", "2", "--eval-every", "2", "--size", "16", "--train-count", "8", "--val-count", "4",
                "--batch", "4", "--widths", "8,8,8,8", "--head-width", "8", "--output", dir);
            Assert.Equal(0, code);
            Assert.Contains("best checkpoint", output);
            foreach (var f in new[] { "best.safetensors", "last.safetensors", "last.optim.safetensors", "config.json", "metrics.csv", "metrics.jsonl", "curves.svg" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void BenchProfilePrintsWhereTheStepTimeGoes()
    {
        var (code, output) = Run("bench", "engine", "--filter", "none", "--profile", "--runs", "5");
        Assert.Equal(0, code);
        Assert.Contains("fp32 FMA peak", output);
        Assert.Contains("Conv2d", output);
        Assert.Contains("backward", output);
    }

    [Fact]
    public void BenchInferenceJudgesTheEagerAndTheCompiledForwardAgainstTheGoal()
    {
        var json = Path.Combine(Path.GetTempPath(), $"mtlprune-engine-{Guid.NewGuid():N}.json");
        try
        {
            var (code, _) = Run("bench", "engine", "--filter", "inference", "--quick", "--runs", "5", "--json", json);
            Assert.Equal(0, code);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            var rows = doc.RootElement.GetProperty("results").EnumerateArray().Where(r => r.GetProperty("Name").GetString()!.StartsWith("resnet-mini inference")).ToList();
            Assert.Equal(2, rows.Count);
            Assert.Contains(rows, r => r.GetProperty("Name").GetString()!.Contains("compiled"));
            foreach (var r in rows)
            {
                Assert.Equal(0.55, r.GetProperty("GoalPeakFraction").GetDouble(), 6);
                Assert.True(r.GetProperty("Gflops").GetDouble() > 0);
                Assert.Equal(r.GetProperty("PeakFraction").GetDouble() >= 0.55, r.GetProperty("GoalMet").GetBoolean());
            }
        }
        finally { File.Delete(json); }
    }
}
