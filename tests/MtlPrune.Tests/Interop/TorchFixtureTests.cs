using System.Text.Json;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Engine.IO.Torch;
using MtlPrune.Interop;
using MtlPrune.Pruning;
using MtlPrune.Training;

namespace MtlPrune.Tests.Interop;

/// <summary>Files written by PyTorch itself (tests/fixtures/pytorch/make_fixtures.py, torch 1.13) and the outputs PyTorch computed for them.</summary>
public class TorchFixtureTests
{
    public static string Fixture(string name, [System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "fixtures", "pytorch", name));

    private static readonly IReadOnlyList<TaskRequest> Tasks = TaskRequest.ParseList("seg:5,normal:3,depth:1");

    /// <summary>Our eval-mode forward of an imported model against PyTorch's, per task, to 1e-4 of the output's scale.</summary>
    private static void AssertOutputsEqual(Models.MultiTaskModel model, string prefix)
    {
        var x = Npy.Read(Fixture("input.npy")).ToTensor();
        model.Eval();
        using var _ = Autograd.NoGrad();
        var outputs = model.ForwardAll(x);
        foreach (var task in new[] { "seg", "normal", "depth" })
        {
            var expected = Npy.Read(Fixture($"{prefix}_out_{task}.npy")).ToTensor();
            Assert.Equal(expected.Shape, outputs[task].Shape);
            var e = expected.ToArray(); var a = outputs[task].ToArray();
            double scale = e.Max(v => Math.Abs(v));
            for (int i = 0; i < e.Length; i++)
                Assert.True(Math.Abs(e[i] - a[i]) <= 1e-4 * scale + 1e-6, $"{prefix} {task}[{i}]: PyTorch {e[i]}, MtlPrune {a[i]}");
        }
    }

    [Fact]
    public void EveryElementTypeAndStridedViewReadsAsPyTorchWroteIt()
    {
        using var archive = TorchArchive.Open(Fixture("dtypes.pth"));
        var root = Assert.IsType<PyDict>(archive.Root);
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("dtypes.json"))).RootElement;
        foreach (var (key, value) in root.Items)
        {
            var name = (string)key!;
            var t = archive.Materialize((TorchTensor)value!, name);
            var e = expected.GetProperty(name);
            Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()), t.Shape);
            var values = e.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var got = t.ToArray();
            for (int i = 0; i < values.Length; i++) Assert.Equal((float)values[i], got[i]);
        }
        Assert.Equal(DType.BF16, archive.Materialize((TorchTensor)root.Items.Single(kv => (string)kv.Key! == "bf16").Value!, "bf16").FileDType);
    }

    [Fact]
    public void ScenenetImportComputesWhatPyTorchComputed()
    {
        var r = PyTorchImport.Import(Fixture("scenenet_tiny.pth"), "auto", Tasks);
        Assert.Equal("scenenet", r.Layout);
        Assert.Equal(new[] { 8, 8, 16, 16 }, r.Model.Spec.Widths);
        Assert.Equal(new[] { 2, 1, 2, 1 }, r.Model.Spec.Blocks);
        Assert.Equal(16, r.Model.Spec.HeadWidth);
        Assert.Contains(r.Inferred, l => l.Contains("widths 8/8/16/16"));
        AssertOutputsEqual(r.Model, "scenenet_tiny");
    }

    /// <summary>DataParallel prefix, a state dict nested under 'state_dict', other entries ignored and listed; same weights.</summary>
    [Fact]
    public void WrappedCheckpointGivesTheSameModelAndListsWhatItIgnored()
    {
        var plain = PyTorchImport.Import(Fixture("scenenet_tiny.pth"), "scenenet", Tasks);
        var wrapped = PyTorchImport.Import(Fixture("scenenet_tiny_wrapped.pth"), "auto", Tasks);
        Assert.Contains(wrapped.Notes, n => n.Contains("'module.'"));
        Assert.Contains(wrapped.Notes, n => n.Contains("'state_dict'") && n.Contains("iter") && n.Contains("optimizer"));
        foreach (var (k, v) in plain.Model.StateDict()) Assert.Equal(v.ToArray(), wrapped.Model.StateDict()[k].ToArray());
    }

    [Fact]
    public void TorchPruneCheckpointImportsWithItsMasks()
    {
        var r = PyTorchImport.Import(Fixture("scenenet_tiny_pruned.pth"), "auto", Tasks);
        var masks = MaskSet.FromModel(r.Model);
        Assert.Equal(new PruningSelection().Select(r.Model).Count, masks.Count);   // every conv weight was pruned by global_unstructured
        Assert.InRange(1 - (double)masks.TotalKept / masks.TotalNumel, 0.599, 0.601);
        AssertOutputsEqual(r.Model, "scenenet_tiny_pruned");
    }

    [Fact]
    public void AdapMtlSoftThresholdIsApplied()
    {
        var r = PyTorchImport.Import(Fixture("scenenet_tiny_adapmtl.pth"), "auto", Tasks);
        Assert.Contains(r.Notes, n => n.Contains("soft threshold"));
        Assert.True(MaskSet.FromModel(r.Model).TotalKept < MaskSet.FromModel(r.Model).TotalNumel);
        AssertOutputsEqual(r.Model, "scenenet_tiny_adapmtl");
    }

    [Fact]
    public void LegacyFilesAndPickledModelsAreRefusedWithAdvice()
    {
        var legacy = Assert.Throws<ModelFormatException>(() => StateDictFile.Read(Fixture("legacy.pth")));
        Assert.Contains("legacy", legacy.Message);
        Assert.Contains("torch.save(torch.load(", legacy.Message);
        var whole = Assert.Throws<ModelFormatException>(() => StateDictFile.Read(Fixture("whole_model.pth")));
        Assert.Contains("__main__.SceneNet", whole.Message);
        Assert.Contains("state_dict()", whole.Message);
    }

    /// <summary>import → export → import gives bit-identical tensors and masks, in both layouts.</summary>
    [Theory]
    [InlineData("scenenet", ExportMasks.Torch, "scenenet_tiny_pruned.pth")]
    [InlineData("scenenet", ExportMasks.None, "scenenet_tiny.pth")]
    [InlineData("mtlprune", ExportMasks.Torch, "scenenet_tiny_pruned.pth")]
    public void ImportExportImportIsBitIdentical(string layout, ExportMasks masks, string file)
    {
        using var dir = new TempDir();
        var first = PyTorchImport.Import(Fixture(file), "auto", Tasks);
        PyTorchImport.Save(first, dir.File("a.safetensors"));
        PyTorchExport.Write(first.Model, Layouts.Get(layout), dir.File("export.safetensors"), masks);
        var second = PyTorchImport.Import(dir.File("export.safetensors"), "auto", Tasks);
        Assert.Equal(layout, second.Layout);
        PyTorchImport.Save(second, dir.File("b.safetensors"));
        var a = SafeTensors.Read(dir.File("a.safetensors")); var b = SafeTensors.Read(dir.File("b.safetensors"));
        Assert.Equal(a.Tensors.Select(t => (t.Name, t.DType)).Order(), b.Tensors.Select(t => (t.Name, t.DType)).Order());
        foreach (var t in a.Tensors) Assert.Equal(a.GetTensor(t.Name).ToArray(), b.GetTensor(t.Name).ToArray());
        var (loaded, meta) = Checkpoint.Load(dir.File("b.safetensors"));
        Assert.Contains("\"layout\":\"" + layout + "\"", meta["mtlprune.import"]);
        Assert.Equal(new[] { "seg", "normal", "depth" }, loaded.Tasks.Select(t => t.Name));
    }

    [Fact]
    public void ExportedScenenetNamesAreTheReferenceCodesNames()
    {
        using var dir = new TempDir();
        var r = PyTorchImport.Import(Fixture("scenenet_tiny.pth"), "scenenet", Tasks);
        PyTorchExport.Write(r.Model, Layouts.Get("scenenet"), dir.File("e.safetensors"));
        var exported = SafeTensors.Read(dir.File("e.safetensors")).Tensors.Select(t => t.Name).Order().ToList();
        var original = StateDictFile.Read(Fixture("scenenet_tiny.pth")).Tensors.Keys.Order().ToList();
        Assert.Equal(original, exported);
        Assert.Equal(DType.I64, SafeTensors.Read(dir.File("e.safetensors")).Tensors.Single(t => t.Name == "backbone.bn1.num_batches_tracked").DType);
    }

    /// <summary>0-d buffers saved with shape [1] load (PyTorch accepts them for num_batches_tracked); missing and unexpected tensors are listed by name.</summary>
    [Fact]
    public void ScalarBuffersOfShapeOneLoadAndMissingOrExtraTensorsAreNamed()
    {
        using var dir = new TempDir();
        var sd = StateDictFile.Read(Fixture("scenenet_tiny.pth")).Tensors;
        var edited = sd.ToDictionary(kv => kv.Key, kv => kv.Key.EndsWith("num_batches_tracked") ? kv.Value.Reshape(1) : kv.Value);
        SafeTensors.Write(dir.File("shape1.safetensors"), edited);
        var r = PyTorchImport.Import(dir.File("shape1.safetensors"), "auto", Tasks);
        Assert.Empty(r.Model.StateDict()["backbone.bn1.num_batches_tracked"].Shape);

        var broken = sd.Where(kv => kv.Key != "backbone.blocks.2.1.conv2.weight").ToDictionary(kv => kv.Key, kv => kv.Value);
        broken["backbone.extra.weight"] = Tensor.Ones(2);
        SafeTensors.Write(dir.File("broken.safetensors"), broken);
        var e = Assert.Throws<ArgumentException>(() => PyTorchImport.Import(dir.File("broken.safetensors"), "auto", Tasks));
        Assert.Contains("backbone.blocks.2.1.conv2.weight", e.Message);
        Assert.Contains("backbone.extra.weight", e.Message);
        Assert.Contains("Nothing was written", e.Message);
    }

    [Fact]
    public void TasksMustMatchTheHeadsAndMismatchesAreNamed()
    {
        Assert.Contains("--tasks", Assert.Throws<ArgumentException>(() => PyTorchImport.Import(Fixture("scenenet_tiny.pth"), "scenenet")).Message);
        Assert.Contains("3 heads", Assert.Throws<ArgumentException>(() => PyTorchImport.Import(Fixture("scenenet_tiny.pth"), "scenenet", TaskRequest.ParseList("seg,depth"))).Message);
        Assert.Contains("4 channels", Assert.Throws<ArgumentException>(() => PyTorchImport.Import(Fixture("scenenet_tiny.pth"), "scenenet", TaskRequest.ParseList("seg:4,normal,depth"))).Message);
        var e = Assert.Throws<ArgumentException>(() => PyTorchImport.Import(Fixture("scenenet_tiny.pth"), "mtlprune", Tasks));
        Assert.Contains("mtlprune", e.Message);
        Assert.Contains("kind", Assert.Throws<ArgumentException>(() => TaskRequest.Parse("foo:3")).Message);
        Assert.Equal(MtlPrune.Tasks.TaskKind.Normals, TaskRequest.Parse("sn:3").Kind);
    }
}
