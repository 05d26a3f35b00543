using System.Diagnostics;
using System.Text.Json;
using MtlPrune.Deploy;
using MtlPrune.Deploy.Onnx;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Tasks;
using MtlPrune.Tests.Fuzz;

namespace MtlPrune.Tests.Deploy;

/// <summary>
/// ONNX export: read back with our own reader and run by the engine, the file computes what the source model computes,
/// at any input size; the onnx package's checker (full check, strict shape inference) accepts it; the reader reads a
/// file made by onnx.helper and refuses malformed ones clearly.
/// </summary>
public class OnnxTests
{
    private static string Fixture(string name, [System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "fixtures", "onnx", name));

    private static MultiTaskModel Model(string kind) => kind switch
    {
        "resnet" => DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.9),
        "deeplab" => DeployFixtures.Pruned(DeployFixtures.DeepLab(), 0.7),
        "mobilenet" => DeployFixtures.Pruned(DeployFixtures.MobileNet(), 0.8),
        _ => DeployFixtures.Pruned(DeployFixtures.ResNet(new[] { new TaskSpec("left", TaskKind.Classification, 10), new TaskSpec("right", TaskKind.Classification, 10) }), 0.8),
    };

    [Theory]
    [InlineData("resnet", false), InlineData("resnet", true), InlineData("deeplab", false), InlineData("mobilenet", true), InlineData("classify", false)]
    public void ExportedModelsComputeWhatTheSourceComputes(string kind, bool sparse)
    {
        var model = Model(kind);
        var g = GraphPasses.Optimize(ModelLowering.Lower(model));
        var bytes = OnnxExport.Build(g, sparse, out var summary);
        Assert.Equal(sparse, summary.SparseInitializers > 0);
        var back = OnnxReader.Parse(bytes, "model.onnx");
        Assert.Equal(g.Outputs.Select(o => o.Key), back.Outputs.Select(o => o.Key));
        foreach (var (h, w) in new[] { (32, 32), (37, 45) })        // height and width stay free
        {
            var x = Tensor.Normal(new[] { 1, 3, h, w }, new Rng(6));
            var want = DeployFixtures.Reference(model, x);
            var got = new CompactModel(back).Run(x);
            foreach (var t in want.Keys) Assert.True(DeployFixtures.RelativeError(got[t].ToArray(), want[t]) < 1e-4, $"{kind} {t} {h}x{w}");
        }
    }

    [Fact]
    public void SparseInitializersMakeASparseModelSmaller()
    {
        var g = GraphPasses.Optimize(ModelLowering.Lower(DeployFixtures.Pruned(ModelSpec.ResNetMini(), 0.9)));
        var dense = OnnxExport.Build(g, false, out _); var sparse = OnnxExport.Build(g, true, out var s);
        Assert.True(sparse.Length < 0.4 * dense.Length, $"{sparse.Length} vs {dense.Length}");
        Assert.True(s.SparseInitializers > 0 && s.Initializers > 0);        // dense biases stay dense
    }

    [Fact]
    public void ReadsAModelWrittenByOnnxHelper()
    {
        var g = OnnxReader.Read(Fixture("tiny_classifier.onnx"));
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("tiny_classifier.json"))).RootElement;
        var x = Tensor.FromArray(expected.GetProperty("input").EnumerateArray().Select(v => v.GetSingle()).ToArray(),
            expected.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray());
        var got = new CompactModel(g).Run(x)["cls"].ToArray();
        var want = expected.GetProperty("cls").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 1e-4f);
    }

    /// <summary>Debian's python3-onnx (installed by .ci/run) checks the files: full check and strict shape inference.</summary>
    [Theory]
    [InlineData("resnet", false), InlineData("deeplab", false), InlineData("mobilenet", true), InlineData("classify", false)]
    public void TheOnnxCheckerAcceptsTheExports(string kind, bool sparse)
    {
        using var dir = new TempDir();
        var g = GraphPasses.Optimize(ModelLowering.Lower(Model(kind)));
        OnnxExport.Write(g, dir.File("m.onnx"), sparse);
        var (code, output) = Python(Fixture("check_onnx.py"), dir.File("m.onnx"));
        Assert.True(code == 0, output);
        Assert.Contains("ok opset 17 ir 8", output);
        foreach (var (task, v) in g.Outputs) Assert.Contains(task + " ['batch'", output);
        if (kind == "resnet") Assert.Contains("'height', 'width']", output);      // resized to the input's size
        if (kind == "deeplab") Assert.Contains("seg_height", output);                 // the DeepLab heads stay at stride 8
    }

    private static (int Code, string Output) Python(params string[] args)
    {
        string python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (output.Contains("No module named 'onnx'")) output += "\nThe ONNX checker test needs the onnx package: apt-get install python3-onnx (.ci/run installs it).";
        return (p.ExitCode, output);
    }

    [Fact]
    public void MalformedFilesAreRefusedClearly()
    {
        var bytes = OnnxExport.Build(GraphPasses.Optimize(ModelLowering.Lower(Model("resnet"))), true, out _);
        foreach (var (mutate, fault) in new (Func<byte[], byte[]>, string)[]
                 {
                     (b => b[..(b.Length / 2)], "ONNX"), (b => new byte[] { 0x3A, 0x05, 1 }, "ONNX"), (b => Array.Empty<byte>(), "no graph"),
                 })
            Assert.Contains(fault, Assert.Throws<ModelFormatException>(() => OnnxReader.Parse(mutate(bytes), "bad.onnx")).Message);
        var report = FuzzHarness.Run("onnx", bytes, (b, source) => DeployFixtures.RunOnceIfItFits(OnnxReader.Parse(b, source)), Environment.GetEnvironmentVariable("MTLPRUNE_FUZZ_LONG") == "1" ? 1_000_000 : 10_000, 21, len => (96L << 20) + 200L * len);
        Assert.True(report.Failures.Count == 0, report + "\n" + string.Join("\n", report.Failures));
        Assert.True(report.Rejected > 0, report.ToString());
    }
}
