using System.Text;
using MtlPrune.Data;
using MtlPrune.Data.Formats;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Training;
using Xunit.Abstractions;

namespace MtlPrune.Tests.Fuzz;

/// <summary>
/// Every other reader under mutation (issue 12): PNG, .npy, safetensors, checkpoints (safetensors + model spec), model
/// specs, training configs (YAML and JSON), AdaShare split files and Multi-MNIST JSON. Each input must parse or be
/// refused with the reader's clear error naming the source, in bounded time and memory. MTLPRUNE_FUZZ_LONG=1 runs
/// 1,000,000 inputs per reader.
/// </summary>
public class ReaderFuzzTests(ITestOutputHelper output)
{
    private static readonly bool Long = Environment.GetEnvironmentVariable("MTLPRUNE_FUZZ_LONG") == "1";
    private static int Runs(int ci = 10_000) => Long ? 1_000_000 : ci;

    private void Check(FuzzReport r, bool mustReject = true)
    {
        output.WriteLine(r.ToString());
        Assert.True(r.Failures.Count == 0, r + "\n" + string.Join("\n", r.Failures));
        if (mustReject) Assert.True(r.Rejected > 0, r.ToString());
    }

    /// <summary>A text reader's clear error: a FormatException whose message starts with the file.</summary>
    private static bool FormatError(Exception e, string source) => e is FormatException && e.Message.StartsWith(source);

    private static byte[] Image(int w, int h, int channels, int depth, ulong seed)
    {
        var rng = new Rng(seed);
        var px = new ushort[w * h * channels];
        for (int i = 0; i < px.Length; i++) px[i] = (ushort)(rng.NextUInt64() % (depth == 8 ? 256UL : 65536UL));
        return Data.Formats.Png.Encode(w, h, channels, px, depth);
    }

    [Theory]
    [InlineData(3, 8), InlineData(1, 16), InlineData(4, 8)]
    public void PngFiles(int channels, int depth)
    {
        var sample = Image(13, 9, channels, depth, 5);
        // Bound: inflated rows (deflate expands at most ~1032×) and the samples (2 bytes for each of at most 4 per byte of row).
        Check(FuzzHarness.Run($"PNG ({channels} ch, {depth}-bit)", sample, (b, s) => Data.Formats.Png.Decode(b, s), Runs(), 11, n => 12_000L * n + (2 << 20)));
    }

    [Fact]
    public void NpyFiles()
    {
        var data = new byte[4 * 30];
        for (int i = 0; i < 30; i++) BitConverter.TryWriteBytes(data.AsSpan(4 * i), i * 0.5f);
        var sample = Engine.IO.Npy.Serialize(data, DType.F32, new[] { 5, 6 });
        Check(FuzzHarness.Run(".npy", sample, (b, s) => Engine.IO.Npy.Parse(b, s).ToTensor(), Runs(), 12, n => 64L * n + (1 << 20)));
    }

    [Fact]
    public void SafeTensorsFiles()
    {
        using var dir = new TempDir();
        Engine.IO.SafeTensors.Write(dir.File("s.safetensors"), new Dictionary<string, Tensor>
        {
            ["a.weight"] = Tensor.Normal(new[] { 4, 3 }, new Rng(1)), ["b"] = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6, 7 }, 7),
        }, new Dictionary<string, string> { ["note"] = "x" });
        var sample = File.ReadAllBytes(dir.File("s.safetensors"));
        Check(FuzzHarness.Run("safetensors", sample, (b, s) => Engine.IO.SafeTensors.Parse(b, s).ToDictionary(), Runs(), 13, n => 64L * n + (1 << 20)));
    }

    [Fact]
    public void Checkpoints()
    {
        using var dir = new TempDir();
        var spec = ModelSpec.ResNetMini() with { Widths = new[] { 4, 4, 8, 8 }, Blocks = new[] { 1, 1, 1, 1 }, HeadWidth = 4 };
        Checkpoint.Save(ModelFactory.Build(spec), dir.File("c.safetensors"));
        var sample = File.ReadAllBytes(dir.File("c.safetensors"));
        var path = dir.File("m.safetensors");
        Check(FuzzHarness.Run("checkpoint (safetensors + model spec)", sample, (b, s) =>
        {
            File.WriteAllBytes(path, b);
            Checkpoint.Load(path);
        }, Runs(), 14, n => 400L * n + (16 << 20), source: path));
    }

    [Fact]
    public void ModelSpecs()
    {
        var sample = Encoding.UTF8.GetBytes(ModelSpec.DeepLabResNet34().ToJson());
        Check(FuzzHarness.Run("model spec JSON", sample, (b, s) =>
        {
            var spec = ModelSpec.FromJson(Encoding.UTF8.GetString(b), s);
            // What a checkpoint does next with it: build the model (its own refusals are ArgumentExceptions with the setting).
            try { _ = spec.ToJson(); } catch (ArgumentException) { }
        }, Runs(), 15, n => 200L * n + (1 << 20), clear: FormatError));
    }

    [Theory]
    [InlineData("yaml"), InlineData("json")]
    public void TrainingConfigs(string kind)
    {
        using var dir = new TempDir();
        var config = new TrainConfig { Tasks = new[] { "seg", "depth" }, LossWeights = new() { ["depth"] = 3 }, Milestones = new[] { 100, 200 } };
        string text = kind == "json" ? config.ToJson()
            : "model: resnet-mini\ndata: scenes\ntasks: [seg, depth]\nsize: 64\niterations: 3000\nbatch: 8\nlr: 0.002\nlossWeights:\n  depth: 3\nmilestones: [100, 200]\nschedule: cosine\n";
        var path = dir.File("c." + kind);
        Check(FuzzHarness.Run($"training config ({kind})", Encoding.UTF8.GetBytes(text), (b, s) =>
        {
            File.WriteAllBytes(path, b);
            try { TrainConfig.Load(path).Validate(); }
            catch (ArgumentException) { }       // a readable config with a bad value: Validate names the option
        }, Runs(), 16, n => 400L * n + (4 << 20), source: path, clear: FormatError));
    }

    [Fact]
    public void AdaShareSplitFiles()
    {
        using var dir = new TempDir();
        var json = "{\"train\": [[\"img/0.png\", \"seg/0.png\", \"normal_mask/0.png\", \"depth/0.npy\"], [\"img/1.png\", \"seg/1.png\", \"normal_mask/1.png\", \"depth/1.npy\"]], " +
                   "\"test\": [[\"img/2.png\", \"seg/2.png\", \"normal_mask/2.png\", \"depth/2.npy\"]]}";
        var path = dir.File("nyu_v2_3task.json");
        Check(FuzzHarness.Run("AdaShare split JSON", Encoding.UTF8.GetBytes(json), (b, s) =>
        {
            File.WriteAllBytes(path, b);
            SplitJson.Read(path, "train", 4, "layout");
            SplitJson.Read(path, "test", 4, "layout");
        }, Runs(), 17, n => 200L * n + (1 << 20), source: path));
    }

    [Fact]
    public void MultiMnistJson()
    {
        using var dir = new TempDir();
        var rng = new Rng(3);
        string Digits(int images) => "{\"data\": [" + string.Join(",", Enumerable.Range(0, images * 784).Select(_ => (rng.NextUInt64() % 256).ToString())) + "]}";
        for (int d = 1; d < 10; d++) File.WriteAllText(dir.File($"{d}.json"), Digits(3));
        var sample = Encoding.UTF8.GetBytes(Digits(3));
        Check(FuzzHarness.Run("Multi-MNIST JSON", sample, (b, s) =>
        {
            File.WriteAllBytes(dir.File("0.json"), b);
            try { new MultiMnistDataset(dir.Path, Split.Train, 4); }
            catch (ArgumentException e) when (e.Message.Contains("too few images")) { }
        }, Runs(), 18, n => 400L * n + (8 << 20), source: dir.File("0.json")));
    }
}
