using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Engine.Inference;
using MtlPrune.Models;
using MtlPrune.Tasks;

namespace MtlPrune.Tests.Deploy;

/// <summary>
/// The compact runtime computes what the masked model computes in eval mode (within 1e-4 relative), for every
/// backbone and head kind, with either kernel per layer, at any input size and from several threads.
/// </summary>
public class CompactModelTests
{
    public static TheoryData<string, double, int, int> Models => new()
    {
        { "resnet", 0.9, 40, 36 }, { "resnet", 0.5, 33, 47 }, { "resnet", 0.0, 32, 32 },
        { "deeplab", 0.7, 41, 35 }, { "mobilenet", 0.9, 37, 32 }, { "classify", 0.8, 28, 28 },
    };

    private static ModelSpec Spec(string kind) => kind switch
    {
        "resnet" => DeployFixtures.ResNet(),
        "deeplab" => DeployFixtures.DeepLab(),
        "mobilenet" => DeployFixtures.MobileNet(),
        _ => DeployFixtures.ResNet(new[] { new TaskSpec("left", TaskKind.Classification, 10), new TaskSpec("right", TaskKind.Classification, 10) }),
    };

    [Theory, MemberData(nameof(Models))]
    public void OutputsEqualTheMaskedModelInEvalMode(string kind, double sparsity, int h, int w)
    {
        var model = DeployFixtures.Pruned(Spec(kind), sparsity);
        var x = Tensor.Normal(new[] { 2, 3, h, w }, new Rng(3));
        var want = DeployFixtures.Reference(model, x);
        var graph = GraphPasses.Optimize(ModelLowering.Lower(model));
        Assert.DoesNotContain(graph.Nodes, n => n.Op == GraphOp.BatchNorm);            // every BN follows a conv: all folded
        foreach (var forced in new ConvKind?[] { null, ConvKind.Dense, ConvKind.Sparse })
        {
            var cm = new CompactModel(graph, (h, w));
            if (forced is { } k) cm.ForceKernels(k);
            var got = cm.Run(x);
            foreach (var t in model.Tasks)
            {
                Assert.Equal(model.Tasks.Count, got.Count);
                Assert.True(DeployFixtures.RelativeError(got[t.Name].ToArray(), want[t.Name]) < 1e-4, $"{kind} {t.Name} ({forced})");
                Assert.Equal(model.ForwardAll(x)[t.Name].Shape, got[t.Name].Shape);
            }
        }
    }

    [Fact]
    public void WideRowsOnlyWhereEveryInPlaceReaderRunsSparseVectorTiles()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.7);
        var graph = GraphPasses.Optimize(ModelLowering.Lower(model));
        var x = Tensor.Normal(new[] { 1, 3, 64, 64 }, new Rng(5));
        var want = DeployFixtures.Reference(model, x);
        var cm = new CompactModel(graph, (64, 64));
        foreach (var kind in new[] { ConvKind.Sparse, ConvKind.Dense })
        {
            cm.ForceKernels(kind);
            var layouts = cm.Layouts(1, 64, 64);
            var choices = cm.Choices.ToDictionary(c => c.Layer);
            for (int v = 0; v < layouts.Count; v++)
            {
                if (!layouts[v].Wide) continue;
                Assert.Equal(ConvKind.Sparse, kind);
                Assert.True(layouts[v].Padded && layouts[v].PadW <= 16);
                foreach (var r in graph.Nodes.Where(r => r.Inputs[0] == v && layouts[v].ServesAsPhaseBuffer((r.Stride[0], r.Stride[1]), (r.Padding[0], r.Padding[1]))))
                    Assert.Equal(SparseTiling.Vectors, choices[r.Name ?? r.Weight!].Tiling);
            }
            var got = cm.Run(x);
            foreach (var t in model.Tasks) Assert.True(DeployFixtures.RelativeError(got[t.Name].ToArray(), want[t.Name]) < 1e-4, $"{t.Name} ({kind})");
        }
    }

    [Fact]
    public void ConvolutionsChainedByStrideOneLayersShareThePaddedLayout()
    {
        var graph = GraphPasses.Optimize(ModelLowering.Lower(DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.5)));
        var cm = new CompactModel(graph, (32, 32));
        var layouts = cm.Layouts(1, 32, 32);
        var padded = graph.Nodes.Where(n => layouts[n.Output].Padded).ToList();
        Assert.NotEmpty(padded);
        foreach (var node in padded)
        {
            Assert.Equal(GraphOp.Conv, node.Op);
            var readers = graph.Nodes.Where(r => r.Inputs.Contains(node.Output)).ToList();
            Assert.All(readers, r => Assert.Equal(GraphOp.Conv, r.Op));
            Assert.Contains(readers, r => r.Inputs[0] == node.Output && r.Stride[0] == 1 && r.Padding[0] == layouts[node.Output].PadH);
        }
        Assert.DoesNotContain(graph.Outputs, o => layouts[o.Value].Padded);
        Assert.False(layouts[0].Padded);
    }

    [Fact]
    public void UnfoldedGraphComputesTheSameAsTheFoldedOne()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.8);
        var x = Tensor.Normal(new[] { 1, 3, 24, 24 }, new Rng(5));
        var raw = ModelLowering.Lower(model);
        Assert.Contains(raw.Nodes, n => n.Op == GraphOp.BatchNorm);
        var a = new CompactModel(raw).Run(x); var b = new CompactModel(GraphPasses.Optimize(raw)).Run(x);
        var want = DeployFixtures.Reference(model, x);
        foreach (var t in want.Keys)
        {
            Assert.True(DeployFixtures.RelativeError(a[t].ToArray(), want[t]) < 1e-4);
            Assert.True(DeployFixtures.RelativeError(b[t].ToArray(), want[t]) < 1e-4);
        }
    }

    [Fact]
    public void FoldingKeepsPrunedWeightsAtZeroAndRemovesWork()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.9);
        var raw = ModelLowering.Lower(model);
        var opt = GraphPasses.Optimize(raw);
        Assert.True(opt.Nodes.Count < raw.Nodes.Count);
        Assert.DoesNotContain(opt.Nodes, n => n.Op == GraphOp.Relu);               // all fused into conv/add
        Assert.DoesNotContain(opt.Nodes, n => n.Op == GraphOp.Add);                // every residual sum fused into a conv
        Assert.Equal(raw.Nodes.Count(n => n.Op == GraphOp.Add), opt.Nodes.Count(n => n.Op == GraphOp.Conv && n.Inputs.Length == 2));
        foreach (var n in opt.Nodes.Where(n => n.Op == GraphOp.Conv))
        {
            var before = raw.Tensors[n.Weight!].Data; var after = opt.Tensors[n.Weight!].Data;
            for (int i = 0; i < before.Length; i++) Assert.Equal(before[i] == 0, after[i] == 0);
        }
        Assert.DoesNotContain(opt.Tensors.Keys, k => k.EndsWith("running_mean"));
    }

    [Fact]
    public void SoftThresholdedWeightsEnterWithTheirEffectiveValues()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0);
        var conv = (Engine.NN.IWeightedLayer)model.NamedModules().First(m => m.Name == "backbone.layer1.0.conv1").Module;
        conv.Parametrization = new HalvedWeight();
        var x = Tensor.Normal(new[] { 1, 3, 16, 16 }, new Rng(9));
        var want = DeployFixtures.Reference(model, x);
        var got = new CompactModel(GraphPasses.Optimize(ModelLowering.Lower(model))).Run(x);
        foreach (var t in want.Keys) Assert.True(DeployFixtures.RelativeError(got[t].ToArray(), want[t]) < 1e-4);
    }

    private sealed class HalvedWeight : Engine.NN.IWeightParametrization
    {
        public Tensor Apply(Tensor weight) => weight.MulScalar(0.5f);
    }

    [Fact]
    public void SeveralThreadsGetTheSameOutputs()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.9);
        var cm = new CompactModel(GraphPasses.Optimize(ModelLowering.Lower(model)), (32, 32));
        var inputs = Enumerable.Range(0, 4).Select(i => Tensor.Normal(new[] { 1, 3, 32, 32 }, new Rng((ulong)i + 20))).ToArray();
        var serial = inputs.Select(x => cm.Run(x)["seg"].ToArray()).ToArray();
        var parallel = new float[16][];
        Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = cm.Run(inputs[i % 4])["seg"].ToArray());
        for (int i = 0; i < 16; i++) Assert.Equal(serial[i % 4], parallel[i]);
    }

    /// <summary>Each task's last operation writes into the caller's buffer, except for an output that is shared or read by other operations: those are copied.</summary>
    [Fact]
    public void OutputsSharedOrReadByOtherOperationsAreCopied()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.5);
        var g = GraphPasses.Optimize(ModelLowering.Lower(model));
        var x = Tensor.Normal(new[] { 1, 3, 32, 32 }, new Rng(5));
        var want = new CompactModel(g, (32, 32)).Run(x);
        int seg = g.Outputs.First(o => o.Key == "seg").Value, stem = g.Nodes.First(n => n.Op == GraphOp.Conv).Output;
        g.Outputs.Add(new("seg again", seg));
        g.Outputs.Add(new("stem", stem));
        var cm = new CompactModel(g, (32, 32));
        var got = cm.Run(x);
        // Each model times its own kernels, and different kernels (dense or sparse, blocks of other sizes) sum in other
        // orders: equal to the last few bits.
        static void Same(float[] a, float[] b) { Assert.Equal(a.Length, b.Length); for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5f * (1 + Math.Abs(a[i])), $"[{i}] {a[i]} vs {b[i]}"); }
        foreach (var t in model.Tasks) Same(want[t.Name].ToArray(), got[t.Name].ToArray());
        Assert.Equal(got["seg"].ToArray(), got["seg again"].ToArray());
        Assert.Equal(cm.OutputShape("stem", 1, 32, 32), got["stem"].Shape);
        Assert.Contains(got["stem"].ToArray(), v => v != 0);
        // Caller buffers larger than the output: only the output's own values are written.
        var outs = cm.Tasks.ToDictionary(t => t, t => Enumerable.Repeat(float.NaN, cm.OutputShape(t, 1, 32, 32).Aggregate(1, (a, b) => a * b) + 5).ToArray());
        cm.Run(x.ToArray(), 1, 32, 32, outs);
        foreach (var t in cm.Tasks) Assert.All(outs[t][^5..], v => Assert.True(float.IsNaN(v)));
        Same(want["depth"].ToArray(), outs["depth"][..^5]);
    }

    [Fact]
    public void KernelChoiceIsRecordedPerConvolution()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.9);
        var g = GraphPasses.Optimize(ModelLowering.Lower(model));
        var cm = new CompactModel(g, (32, 32));
        Assert.Equal(g.Nodes.Count(n => n.Op == GraphOp.Conv), cm.Choices.Count);
        Assert.All(cm.Choices, c => Assert.True(c.DenseMs > 0 && c.Density <= 1 && c.NonzeroMacs <= c.Macs));
        Assert.All(cm.Choices, c => Assert.Equal(c.Kind, c.SparseMs < c.DenseMs ? ConvKind.Sparse : ConvKind.Dense));
    }

    [Fact]
    public void WrongInputsAreRejectedByName()
    {
        var cm = new CompactModel(GraphPasses.Optimize(ModelLowering.Lower(DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.5))));
        var e = Assert.Throws<ArgumentException>(() => cm.Run(Tensor.Zeros(1, 4, 16, 16)));
        Assert.Contains("[N, 3, H, W]", e.Message);
        var outs = cm.Tasks.ToDictionary(t => t, t => new float[1]);
        e = Assert.Throws<ArgumentException>(() => cm.Run(new float[3 * 16 * 16], 1, 16, 16, outs));
        Assert.Contains("output buffer", e.Message);
    }
}

public class MacCountTests
{
    /// <summary>The inference graph's MAC count (bench rows, inspect) equals the pruning report's, measured by forward hooks.</summary>
    [Theory]
    [InlineData("resnet-mini", 64, 48), InlineData("deeplab", 41, 35), InlineData("mobilenet", 32, 32)]
    public void GraphMacsEqualTheHookCount(string kind, int h, int w)
    {
        var spec = kind switch { "resnet-mini" => ModelSpec.ResNetMini(), "deeplab" => DeployFixtures.DeepLab(), _ => DeployFixtures.MobileNet() };
        var model = DeployFixtures.Pruned(spec, 0.6);
        var report = MtlPrune.Pruning.SparsityReport.Measure(model, new[] { 3, h, w });
        var (macs, nonzero) = ModelLowering.Lower(model).Macs(h, w);
        Assert.Equal(report.ConvLinear.DenseMacs, macs);
        Assert.Equal(report.ConvLinear.NonzeroMacs, nonzero);
        Assert.Equal(2.0 * macs * 3, MtlPrune.Bench.EngineBench.ForwardFlops(spec, 3, h, w));        // the bench rows' FLOPs: 2 × MACs × batch
    }
}
