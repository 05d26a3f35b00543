using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Models;
using MtlPrune.Tasks;

namespace MtlPrune.Tests;

public class ModelTests
{
    private static long ConvWeights(Module m) => m.NamedModules().Select(x => x.Module).OfType<Conv2d>().Sum(c => (long)c.Weight.Numel);

    [Fact]
    public void ResNetMiniHasTheReferenceSizeAndNames()
    {
        var m = ModelFactory.Build(ModelSpec.ResNetMini());
        Assert.Equal(922_849, m.ParameterCount());
        var names = m.StateDict().Keys.ToHashSet();
        foreach (var n in new[] { "backbone.conv1.weight", "backbone.bn1.running_mean", "backbone.layer2.0.downsample.0.weight",
                     "heads.seg.conv1.weight", "heads.seg.bn1.weight", "heads.seg.conv2.bias", "heads.normal.conv2.weight" })
            Assert.Contains(n, names);
        Assert.DoesNotContain("backbone.layer1.0.downsample.0.weight", names);
        var y = m.ForwardAll(Tensor.Normal(new[] { 2, 3, 32, 32 }, new Rng(1)));
        Assert.Equal(new[] { 2, 13, 32, 32 }, y["seg"].Shape);
        Assert.Equal(new[] { 2, 1, 32, 32 }, y["depth"].Shape);
        Assert.Equal(new[] { 2, 3, 32, 32 }, y["normal"].Shape);
    }

    [Fact]
    public void DeepLabResNet34MatchesThePublishedWeightCounts()
    {
        var spec = ModelSpec.DeepLabResNet34();
        var m = ModelFactory.Build(spec);
        Assert.Equal(21_267_648, ConvWeights(m.Backbone));
        foreach (var t in spec.Tasks) Assert.Equal(23_068_672 + 4096L * t.Channels, ConvWeights(m.Head(t.Name)));
        Assert.Equal(90_653_888, ConvWeights(m));      // NYU 3 tasks (40, 3, 1), methods.md §7.2
        // Output stride 8 with the ceil-mode stem: 33 -> 17 -> 9 -> 5.
        using (Autograd.NoGrad())
            Assert.Equal(new[] { 1, 512, 5, 5 }, m.Backbone.Forward(Tensor.Normal(new[] { 1, 3, 33, 33 }, new Rng(1))).Shape);
    }

    [Fact]
    public void MobileNetV2BackboneMatchesThePublishedWeightCount()
    {
        var m = ModelFactory.Build(ModelSpec.MobileNetV2(new[] { new TaskSpec("seg", TaskKind.Segmentation, 40) }));
        Assert.Equal(2_189_760, ConvWeights(m.Backbone));
        Assert.Equal(51_380_224 + 4096L * 40, ConvWeights(m.Head("seg")));
    }

    [Fact]
    public void RolesAreStructuralAndPrunableMeansConvAndLinearWeights()
    {
        var spec = ModelSpec.ResNetMini(new[] { new TaskSpec("seg", TaskKind.Segmentation, 5), new TaskSpec("cls", TaskKind.Classification, 4) });
        var m = ModelFactory.Build(spec);
        var infos = m.ParameterInfos();
        Assert.Equal(m.Parameters().Count(), infos.Count);
        Assert.All(infos.Where(i => i.Name.StartsWith("backbone.")), i => Assert.True(i.Role.IsShared));
        Assert.All(infos.Where(i => i.Name.StartsWith("heads.cls.")), i => Assert.Equal(ParamRole.Head("cls"), i.Role));
        Assert.All(infos, i => Assert.Equal(i.Owner is Conv2d c ? ReferenceEquals(c.Weight, i.Tensor) : i.Owner is Linear l && ReferenceEquals(l.Weight, i.Tensor), i.Prunable));
        Assert.Contains(infos, i => i.Name == "heads.cls.fc.weight" && i.Prunable);
        Assert.DoesNotContain(infos, i => i.Owner is BatchNorm2d && i.Prunable);
        var withBias = m.ParameterInfos(new PrunableSelection(Biases: true));
        Assert.Contains(withBias, i => i.Name == "heads.seg.conv2.bias" && i.Prunable);
        Assert.Equal(new[] { 2, 4 }, m.ForwardAll(Tensor.Normal(new[] { 2, 3, 16, 16 }, new Rng(1)))["cls"].Shape);
    }

    [Fact]
    public void SelectTasksSharesParametersAndDropsOtherHeads()
    {
        var m = ModelFactory.Build(ModelSpec.ResNetMini());
        var sub = m.SelectTasks("depth", "seg");
        Assert.Equal(new[] { "depth", "seg" }, sub.Tasks.Select(t => t.Name));
        Assert.Same(m.StateDict()["backbone.conv1.weight"], sub.StateDict()["backbone.conv1.weight"]);
        Assert.DoesNotContain(sub.StateDict().Keys, k => k.StartsWith("heads.normal."));
        Assert.Equal(new[] { "depth", "seg" }, sub.ForwardAll(Tensor.Normal(new[] { 1, 3, 16, 16 }, new Rng(1))).Keys.OrderBy(k => k));
        Assert.Throws<KeyNotFoundException>(() => m.SelectTasks("edges"));
    }

    [Fact]
    public void SpecRoundTripsAndSameSeedGivesSameWeights()
    {
        var spec = ModelSpec.ResNetMini() with { Widths = new[] { 8, 16, 16, 32 }, HeadWidth = 16 };
        var back = ModelSpec.FromJson(spec.ToJson(), "test");
        Assert.Equal(spec.ToJson(), back.ToJson());
        var a = ModelFactory.Build(spec, 3).StateDict(); var b = ModelFactory.Build(back, 3).StateDict(); var c = ModelFactory.Build(spec, 4).StateDict();
        foreach (var k in a.Keys) Assert.Equal(a[k].ToArray(), b[k].ToArray());
        Assert.NotEqual(a["backbone.conv1.weight"].ToArray(), c["backbone.conv1.weight"].ToArray());
        Assert.Throws<FormatException>(() => ModelSpec.FromJson("{\"widths\": \"x\"}", "bad.json"));
    }
}
