using MtlPrune.Data;
using MtlPrune.Data.Formats;
using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Training;

namespace MtlPrune.Cli.Tests;

/// <summary>`mtlprune export --format mtlp`, `inspect` and `infer` as a user runs them after a prune.</summary>
[Collection("console")]
public class DeployCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mtlprune-deploy-cli-{Guid.NewGuid():N}");

    public DeployCliTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string F(string name) => Path.Combine(_dir, name);
    private static void Ok((int Code, string Output) r) => Assert.True(r.Code == 0, r.Output);

    private void TrainAndPrune()
    {
        Ok(CliRunner.Run("train", "--widths", "8,8,16,16", "--head-width", "8", "--size", "32", "--train-count", "16", "--val-count", "4",
            "--iterations", "2", "--eval-every", "2", "--batch", "4", "--output", F("dense")));
        Ok(CliRunner.Run("prune", "--checkpoint", F("dense/best.safetensors"), "--tasks", "seg,depth", "--sparsity", "0.9",
            "--size", "32", "--train-count", "16", "--val-count", "4", "--test-count", "4", "--batch", "4",
            "--calib-batches", "2", "--finetune-iters", "2", "--eval-every", "2", "--out", F("pruned")));
    }

    [Fact]
    public void ExportInspectAndInferAPrunedModel()
    {
        TrainAndPrune();
        var (code, output) = CliRunner.Run("export", "--checkpoint", F("pruned"), "--format", "mtlp", "--out", F("model.mtlp"));
        Assert.True(code == 0, output);
        Assert.Contains("tasks seg, depth", output);
        Assert.Contains("of the dense fp32 model", output);

        // The file holds the kept tasks, the scenes' input size and preprocessing, and computes what the checkpoint computes.
        var g = MtlpFile.Read(F("model.mtlp"));
        Assert.Equal(new[] { "seg", "depth" }, g.Outputs.Select(o => o.Key));
        Assert.Equal("32", g.Metadata["inputHeight"]);
        var prep = InputPreprocessing.ReadFrom(g.Metadata);
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, prep.Mean);           // the scenes' (rgb − 0.5) / 0.25
        Assert.Equal(new[] { 0.25f, 0.25f, 0.25f }, prep.Std);
        var (model, _) = Checkpoint.Load(F("pruned/pruned.safetensors"));
        model.Eval();
        var x = Tensor.Normal(new[] { 1, 3, 32, 32 }, new Rng(1));
        var want = DeployTestHelpers.Forward(model, x);
        var got = CompactModel.Load(F("model.mtlp")).Run(x);
        foreach (var t in want.Keys) Assert.True(DeployTestHelpers.RelativeError(got[t].ToArray(), want[t]) < 1e-4, t);

        (code, output) = CliRunner.Run("inspect", F("model.mtlp"), "--json", F("inspect.json"));
        Assert.True(code == 0, output);
        Assert.Contains("backbone.layer1.0.conv1", output);
        Assert.Contains("MACs for 32×32 (recorded in the file)", output);
        Assert.Contains("bitmask f32", output);
        Assert.Contains("\"nonzeroMacs\"", File.ReadAllText(F("inspect.json")));
        (code, output) = CliRunner.Run("inspect", F("pruned"), "--input-size", "48x64");
        Assert.True(code == 0, output);
        Assert.Contains("pruned checkpoint (masked)", output);
        Assert.Contains("MACs for 48×64 (--input-size)", output);

        // A rendered scene as the user's photo (the data set hands it out normalised).
        var sample = new ScenesDataset(Split.Test, 1, 40, 48, 3, new[] { "seg", "depth" }).Get(0).Image;
        var pixels = new ushort[40 * 48 * 3];
        for (int i = 0; i < 40 * 48; i++) for (int c = 0; c < 3; c++) pixels[i * 3 + c] = (ushort)Math.Round((sample.Span[c * 40 * 48 + i] * 0.25 + 0.5) * 255);
        Directory.CreateDirectory(F("photos"));
        File.WriteAllBytes(F("photos/scene.png"), Png.Encode(48, 40, 3, pixels));
        (code, output) = CliRunner.Run("infer", "--model", F("model.mtlp"), "--image", F("photos"), "--out", F("seen"));
        Assert.True(code == 0, output);
        foreach (var task in new[] { "seg", "depth" })
        {
            var img = Png.Read(F($"seen/scene.{task}.png"));
            Assert.Equal((48, 40, 3), (img.Width, img.Height, img.Channels));
        }
        // The segmentation image shows the argmax class of the model's output in the palette (kernel choices may differ
        // between loads, so a class within 1e-4 of the maximum counts too).
        var input = Tensor.FromArray(prep.Apply(pixels, 3, 40, 48, 3), 1, 3, 40, 48);
        for (int i = 0; i < input.Numel; i += 101) Assert.Equal(sample.Span[i], input.Span[i], 0.01f);     // what training fed the model
        var seg = CompactModel.Load(F("model.mtlp")).Run(input)["seg"];
        var segImg = Png.Read(F("seen/scene.seg.png"));
        int plane = 40 * 48, channels = seg.Shape[1];
        for (int i = 0; i < plane; i += 37)
        {
            float max = Enumerable.Range(0, channels).Max(c => seg.Span[c * plane + i]);
            var shown = (segImg.Samples[3 * i], segImg.Samples[3 * i + 1], segImg.Samples[3 * i + 2]);
            Assert.True(Enumerable.Range(0, channels).Where(c => seg.Span[c * plane + i] >= max - 1e-4f).Any(c => OutputImages.Palette(c) == shown),
                $"pixel {i}: shown {shown}, logits {string.Join(" ", Enumerable.Range(0, channels).Select(c => seg.Span[c * plane + i]))}");
        }

        (code, output) = CliRunner.Run("export", "--checkpoint", F("pruned"), "--format", "onnx", "--out", F("model.onnx"));
        Assert.True(code == 0, output);
        Assert.Contains("outputs seg, depth", output);
        var onnx = new CompactModel(Deploy.Onnx.OnnxReader.Read(F("model.onnx"))).Run(x);
        foreach (var t in want.Keys) Assert.True(DeployTestHelpers.RelativeError(onnx[t].ToArray(), want[t]) < 1e-4, t);

        (code, output) = CliRunner.Run("export", "--checkpoint", F("pruned"), "--format", "mtlp", "--fp16", "--out", F("half.mtlp"));
        Assert.True(code == 0, output);
        Assert.True(new FileInfo(F("half.mtlp")).Length < new FileInfo(F("model.mtlp")).Length);
    }

    [Fact]
    public void StructuredCutExportsASmallerDenseModel()
    {
        Ok(CliRunner.Run("train", "--widths", "8,8,16,16", "--head-width", "8", "--size", "32", "--train-count", "16", "--val-count", "4",
            "--iterations", "2", "--eval-every", "2", "--batch", "4", "--output", F("dense")));
        var (code, output) = CliRunner.Run("prune", "--checkpoint", F("dense/best.safetensors"), "--tasks", "seg,depth", "--sparsity", "0.5", "--granularity", "filter",
            "--fusion", "or", "--size", "32", "--train-count", "16", "--val-count", "4", "--test-count", "4", "--batch", "4",
            "--calib-batches", "2", "--finetune-iters", "2", "--eval-every", "2", "--out", F("filters"));
        Assert.True(code == 0, output);
        Ok(CliRunner.Run("export", "--checkpoint", F("filters"), "--format", "mtlp", "--out", F("masked.mtlp")));
        (code, output) = CliRunner.Run("export", "--checkpoint", F("filters"), "--format", "mtlp", "--structured", "--out", F("compact.mtlp"));
        Assert.True(code == 0, output);
        var masked = ModelInspection.Of(F("masked.mtlp")); var compact = ModelInspection.Of(F("compact.mtlp"));
        Assert.Contains("channels compacted", compact.Kind);
        Assert.True(compact.Weights < masked.Weights);                     // a smaller dense model ...
        Assert.True(compact.Macs < masked.Macs);
        Assert.True((double)compact.Nonzeros / compact.Weights > (double)masked.Nonzeros / masked.Weights);
        var x = Tensor.Normal(new[] { 1, 3, 32, 32 }, new Rng(2));
        var a = CompactModel.Load(F("masked.mtlp")).Run(x); var b = CompactModel.Load(F("compact.mtlp")).Run(x);
        foreach (var t in a.Keys) Assert.True(DeployTestHelpers.RelativeError(b[t].ToArray(), a[t].ToArray()) < 1e-4, t);   // ... with the same outputs
    }

    [Fact]
    public void BadDeployInputsAreRefusedByName()
    {
        TrainAndPrune();
        File.WriteAllText(F("bad.mtlp"), "MTLP not really");
        var cases = new (string[] Args, string Expected)[]
        {
            (new[] { "export", "--checkpoint", F("pruned"), "--format", "mtlp", "--tasks", "normal", "--out", F("x.mtlp") }, "no task 'normal'"),
            (new[] { "export", "--checkpoint", F("pruned"), "--format", "tflite", "--out", F("x.mtlp") }, "--format"),
            (new[] { "export", "--checkpoint", F("nowhere"), "--format", "mtlp", "--out", F("x.mtlp") }, "nowhere"),
            (new[] { "export", "--checkpoint", F("pruned"), "--format", "mtlp", "--input-size", "0x3", "--out", F("x.mtlp") }, "--input-size"),
            (new[] { "inspect", F("bad.mtlp") }, "bad.mtlp"),
            (new[] { "infer", "--model", F("bad.mtlp"), "--image", F("bad.mtlp"), "--out", F("o") }, "bad.mtlp"),
            (new[] { "infer", "--model", F("nothing.mtlp"), "--image", F("x.png"), "--out", F("o") }, "nothing.mtlp"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, output) = CliRunner.Run(args);
            Assert.True(code != 0, string.Join(" ", args) + "\n" + output);
            Assert.Contains(expected, output);
        }
        Assert.False(File.Exists(F("x.mtlp")));
        Ok(CliRunner.Run("export", "--checkpoint", F("pruned"), "--format", "mtlp", "--out", F("m.mtlp")));
        File.WriteAllText(F("not.png"), "GIF89a");
        var (c2, o2) = CliRunner.Run("infer", "--model", F("m.mtlp"), "--image", F("not.png"), "--out", F("o"));
        Assert.True(c2 != 0, o2);
        Assert.Contains("not.png", o2);
    }
}

internal static class DeployTestHelpers
{
    public static Dictionary<string, float[]> Forward(Models.MultiTaskModel model, Tensor x)
    {
        using var _ = Autograd.NoGrad();
        return model.ForwardAll(x).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
    }

    public static double RelativeError(float[] a, float[] b)
    {
        double diff = 0, scale = 1;
        for (int i = 0; i < a.Length; i++) { diff = Math.Max(diff, Math.Abs(a[i] - b[i])); scale = Math.Max(scale, Math.Abs(b[i])); }
        return diff / scale;
    }
}

/// <summary>`train` and `eval` on a real data set with a damaged file: stop naming the sample, or log it and go on.</summary>
[Collection("console")]
public class BadSampleCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mtlprune-badsample-cli-{Guid.NewGuid():N}");
    public BadSampleCliTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void TrainStopsOnADamagedSampleUnlessToldToSkipIt()
    {
        foreach (var folder in new[] { "train", "val" })
            for (int i = 0; i < 5; i++)
                foreach (var (kind, shape) in new[] { ("image", new[] { 16, 16, 3 }), ("label", new[] { 16, 16 }), ("depth", new[] { 16, 16, 1 }), ("normal", new[] { 16, 16, 3 }) })
                {
                    var path = Path.Combine(_dir, "nyu", folder, kind, $"{i}.npy");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    Engine.IO.Npy.Write(path, Tensor.FromArray(Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(k => (float)(k % 5)).ToArray(), shape));
                }
        File.WriteAllBytes(Path.Combine(_dir, "nyu", "train", "image", "1.npy"), new byte[] { 0x93, (byte)'N', (byte)'U' });
        string[] Train(string output, params string[] extra) => new[]
        {
            "train", "--data", "nyuv2-mtan", "--data-root", Path.Combine(_dir, "nyu"), "--tasks", "seg,depth", "--widths", "4,4,8,8", "--head-width", "4",
            "--val-count", "1", "--iterations", "3", "--eval-every", "3", "--batch", "2", "--no-augment", "--output", Path.Combine(_dir, output),
        }.Concat(extra).ToArray();
        var (code, output) = CliRunner.Run(Train("stop"));
        Assert.Equal(1, code);
        Assert.Contains("sample 1", output);
        Assert.Contains(Path.Combine("train", "image", "1.npy"), output);
        (code, output) = CliRunner.Run(Train("skip", "--skip-bad-samples"));
        Assert.True(code == 0, output);
        Assert.Contains("warning: skipping data 'nyuv2-mtan-train' sample 1", output);
    }
}
