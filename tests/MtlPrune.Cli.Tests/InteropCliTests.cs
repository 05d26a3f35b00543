using MtlPrune.Engine.IO;

namespace MtlPrune.Cli.Tests;

/// <summary>`mtlprune import` and `export` as a user runs them, and the whole path import → prune → eval → export.</summary>
[Collection("console")]
public class InteropCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mtlprune-interop-cli-{Guid.NewGuid():N}");

    public InteropCliTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string F(string name) => Path.Combine(_dir, name);

    private static string Fixture(string name, [System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "fixtures", "pytorch", name));

    private static void Ok((int Code, string Output) r) => Assert.True(r.Code == 0, r.Output);

    [Fact]
    public void ImportPruneEvalExportOfAPyTorchScenenetModel()
    {
        // A DeepLab-ResNet written with the reference codebases' names stands in for the user's PyTorch file.
        Ok(CliRunner.Run("train", "--model", "deeplab-resnet34", "--widths", "8,8,16,16", "--blocks", "1,1,1,1", "--head-width", "16", "--size", "32",
            "--train-count", "16", "--val-count", "4", "--iterations", "2", "--eval-every", "2", "--batch", "4", "--output", F("dense")));
        Ok(CliRunner.Run("export", "--checkpoint", F("dense/best.safetensors"), "--layout", "scenenet", "--out", F("user.safetensors")));

        var (code, output) = CliRunner.Run("import", F("user.safetensors"), "--tasks", "seg:13,depth:1,normal:3", "--out", F("imported.safetensors"));
        Assert.True(code == 0, output);
        Assert.Contains("layout scenenet", output);
        Assert.Contains("widths 8/8/16/16", output);

        (code, output) = CliRunner.Run("prune", "--checkpoint", F("imported.safetensors"), "--tasks", "seg,depth", "--sparsity", "0.7", "--fusion", "or",
            "--data", "scenes", "--size", "32", "--train-count", "16", "--val-count", "4", "--test-count", "4", "--batch", "4",
            "--calib-batches", "2", "--finetune-iters", "2", "--eval-every", "2", "--out", F("pruned"));
        Assert.True(code == 0, output);
        (code, output) = CliRunner.Run("eval", "--checkpoint", F("pruned/pruned.safetensors"), "--size", "32", "--count", "4");
        Assert.True(code == 0, output);
        Assert.Contains("pruned checkpoint: cut", output);

        Ok(CliRunner.Run("export", "--checkpoint", F("pruned/pruned.safetensors"), "--layout", "scenenet", "--out", F("back.safetensors")));
        var back = SafeTensors.Read(F("back.safetensors"));
        Assert.Contains(back.Tensors, t => t.Name == "backbone.blocks.3.0.conv2.weight");
        Assert.Contains(back.Tensors, t => t.Name == "task2_fc1_c3.conv3.bias");           // depth is the second kept task
        Assert.DoesNotContain(back.Tensors, t => t.Name.StartsWith("task3_"));
        var w = back.ToDictionary().Where(kv => kv.Key.EndsWith("weight") && kv.Value.Rank == 4).SelectMany(kv => kv.Value.ToArray()).ToArray();
        Assert.InRange(w.Count(v => v == 0) / (double)w.Length, 0.69, 0.71);                // pruned weights are exactly 0
    }

    [Fact]
    public void BadImportsAreRefusedAndWriteNothing()
    {
        var cases = new (string[] Args, string Expected)[]
        {
            (new[] { "import", Fixture("scenenet_tiny.pth"), "--out", F("a.safetensors") }, "--tasks"),
            (new[] { "import", Fixture("scenenet_tiny.pth"), "--tasks", "seg,depth", "--out", F("a.safetensors") }, "3 heads"),
            (new[] { "import", Fixture("scenenet_tiny.pth"), "--layout", "mtlprune", "--tasks", "seg,normal,depth", "--out", F("a.safetensors") }, "try --layout scenenet"),
            (new[] { "import", Fixture("legacy.pth"), "--tasks", "seg,normal,depth", "--out", F("a.safetensors") }, "legacy"),
            (new[] { "import", Fixture("whole_model.pth"), "--tasks", "seg,normal,depth", "--out", F("a.safetensors") }, "__main__.SceneNet"),
            (new[] { "import", Fixture("input.npy"), "--out", F("a.safetensors") }, "neither a torch.save zip file nor a safetensors file"),
            (new[] { "import", Fixture("scenenet_tiny.pth"), "--layout", "keras", "--out", F("a.safetensors") }, "--layout"),
            (new[] { "export", "--checkpoint", F("nothing.safetensors"), "--out", F("b.safetensors") }, "nothing.safetensors"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, output) = CliRunner.Run(args);
            Assert.True(code == 1, $"{string.Join(" ", args)} → {code}: {output}");
            Assert.Contains(expected, output);
        }
        Assert.False(File.Exists(F("a.safetensors")));
        Ok(CliRunner.Run("import", Fixture("scenenet_tiny.pth"), "--tasks", "seg,normal,depth", "--out", F("ok.safetensors")));
        var (c2, o2) = CliRunner.Run("import", Fixture("scenenet_tiny.pth"), "--tasks", "seg,normal,depth", "--out", F("ok.safetensors"));
        Assert.Equal(1, c2);
        Assert.Contains("--force", o2);
    }
}
