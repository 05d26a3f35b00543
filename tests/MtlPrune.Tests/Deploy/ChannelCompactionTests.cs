using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Models;

namespace MtlPrune.Tests.Deploy;

/// <summary>
/// Structured compaction removes exactly the channels that are zero for every input: through batch norm, depthwise
/// convolutions and residual sums (a stream channel only when every branch agrees), and the compacted graph computes
/// the same outputs with fewer weights.
/// </summary>
public class ChannelCompactionTests
{
    /// <summary>Zeroes output channel <paramref name="channel"/> of conv <paramref name="conv"/> and the γ, β of the batch norm after it.</summary>
    private static void Kill(MultiTaskModel model, string conv, int channel)
    {
        var modules = model.NamedModules().ToDictionary(m => m.Name, m => m.Module);
        var c = (Conv2d)modules[conv];
        int per = (int)(c.Weight.Numel / c.Weight.Shape[0]);
        c.Weight.Span.Slice(channel * per, per).Clear();
        if (c.Bias is not null) c.Bias.Span[channel] = 0;
        if (ModelLowering.BatchNormAfterConv(model).TryGetValue(conv, out var bnName))
        {
            var bn = (BatchNorm2d)modules[bnName];
            bn.Weight!.Span[channel] = 0; bn.Bias!.Span[channel] = 0;
        }
    }

    private static (InferenceGraph Before, InferenceGraph After, CompactionReport Report) Compact(MultiTaskModel model, int h = 24, int w = 24)
    {
        var g = GraphPasses.Optimize(ModelLowering.Lower(model));
        var c = ChannelCompaction.Compact(g, out var report);
        var x = Tensor.Normal(new[] { 2, 3, h, w }, new Rng(4));
        var want = DeployFixtures.Reference(model, x);
        var got = new CompactModel(c).Run(x);
        foreach (var t in want.Keys) Assert.True(DeployFixtures.RelativeError(got[t].ToArray(), want[t]) < 1e-4, t);
        return (g, c, report);
    }

    private static int[] WeightShape(InferenceGraph g, string layer) => g.Tensors[layer + ".weight"].Shape;

    [Fact]
    public void PairsEachConvolutionWithTheBatchNormAfterIt()
    {
        var pairs = ModelLowering.BatchNormAfterConv(DeployFixtures.Pruned(DeployFixtures.ResNet(), 0));
        Assert.Equal("backbone.layer1.0.bn1", pairs["backbone.layer1.0.conv1"]);
        Assert.Equal("backbone.layer2.0.downsample.1", pairs["backbone.layer2.0.downsample.0"]);
        Assert.Equal("heads.seg.bn1", pairs["heads.seg.conv1"]);
        Assert.False(pairs.ContainsKey("heads.seg.conv2"));
    }

    [Fact]
    public void NothingGoesFromADenseModel()
    {
        var (before, after, report) = Compact(DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.5));
        Assert.Equal(report.WeightsBefore, report.WeightsAfter);
        Assert.Equal(report.ChannelsBefore, report.ChannelsAfter);
        foreach (var (k, t) in before.Tensors) Assert.Equal(t.Shape, after.Tensors[k].Shape);
    }

    [Fact]
    public void ADeadInnerChannelGoesWithItsReadersInputs()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.3);
        Kill(model, "backbone.layer1.0.conv1", 2); Kill(model, "backbone.layer1.0.conv1", 5);
        Kill(model, "heads.depth.conv1", 0);
        var (_, after, report) = Compact(model);
        Assert.Equal(new[] { 6, 8, 3, 3 }, WeightShape(after, "backbone.layer1.0.conv1"));
        Assert.Equal(new[] { 8, 6, 3, 3 }, WeightShape(after, "backbone.layer1.0.conv2"));
        Assert.Equal(11, WeightShape(after, "heads.depth.conv1")[0]);
        Assert.Equal(new[] { 1, 11, 1, 1 }, WeightShape(after, "heads.depth.conv2"));      // task output keeps its channel
        Assert.Equal(report.ChannelsBefore - 3, report.ChannelsAfter);
        Assert.Equal(report.WeightsBefore - (2 * 8 * 9 * 2) - (24 * 9 + 1), report.WeightsAfter);
    }

    [Fact]
    public void AResidualChannelGoesOnlyWhenEveryBranchAgrees()
    {
        // layer2's stream (16 channels) is written by layer2.0's downsample and conv2 and by layer2.1's conv2.
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.3);
        Kill(model, "backbone.layer2.0.conv2", 3); Kill(model, "backbone.layer2.0.downsample.0", 3);      // layer2.1's branch disagrees
        Kill(model, "backbone.layer2.0.conv2", 7); Kill(model, "backbone.layer2.0.downsample.0", 7); Kill(model, "backbone.layer2.1.conv2", 7);
        var (_, after, _) = Compact(model);
        Assert.Equal(15, WeightShape(after, "backbone.layer2.0.conv2")[0]);
        Assert.Equal(15, WeightShape(after, "backbone.layer2.0.downsample.0")[0]);
        Assert.Equal(15, WeightShape(after, "backbone.layer2.1.conv2")[0]);
        Assert.Equal(15, WeightShape(after, "backbone.layer2.1.conv1")[1]);
        Assert.Equal(15, WeightShape(after, "backbone.layer3.0.conv1")[1]);
        Assert.Equal(15, WeightShape(after, "backbone.layer3.0.downsample.0")[1]);
    }

    [Fact]
    public void AChannelFeedingTheNextStageIsKeptWhileAnyBranchUsesIt()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.3);
        Kill(model, "backbone.layer2.0.conv2", 3); Kill(model, "backbone.layer2.1.conv2", 3);          // the downsample branch still writes 3
        var (before, after, _) = Compact(model);
        Assert.Equal(WeightShape(before, "backbone.layer3.0.conv1"), WeightShape(after, "backbone.layer3.0.conv1"));
        Assert.Equal(16, WeightShape(after, "backbone.layer2.0.conv2")[0]);
    }

    [Fact]
    public void ChannelsGoThroughDepthwiseConvolutions()
    {
        var model = DeployFixtures.Pruned(DeployFixtures.MobileNet(), 0.3);
        // features.2 is an inverted residual: 1×1 expansion (0) + BN (1), 3×3 depthwise (3) + BN (4), 1×1 projection (6) + BN (7).
        Kill(model, "backbone.features.2.conv.0", 4); Kill(model, "backbone.features.2.conv.3", 4);
        var (before, after, report) = Compact(model, 32, 32);
        var exp = WeightShape(before, "backbone.features.2.conv.0")[0];
        Assert.Equal(exp - 1, WeightShape(after, "backbone.features.2.conv.0")[0]);
        Assert.Equal(new[] { exp - 1, 1, 3, 3 }, WeightShape(after, "backbone.features.2.conv.3"));
        Assert.Equal(exp - 1, WeightShape(after, "backbone.features.2.conv.6")[1]);
        Assert.True(report.WeightsAfter < report.WeightsBefore);
        Assert.Equal(exp - 1, after.Nodes.Single(n => n.Weight == "backbone.features.2.conv.3.weight").Groups);
    }

    [Fact]
    public void ADeadFilterWithALiveShiftStays()
    {
        // A zero filter whose batch norm still adds β outputs a constant, not zero: removing it would change the outputs.
        var model = DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.3);
        var conv = (Conv2d)model.NamedModules().Single(m => m.Name == "backbone.layer1.0.conv1").Module;
        conv.Weight.Span.Slice(0, (int)(conv.Weight.Numel / conv.Weight.Shape[0])).Clear();
        var (before, after, _) = Compact(model);
        Assert.Equal(WeightShape(before, "backbone.layer1.0.conv1"), WeightShape(after, "backbone.layer1.0.conv1"));
    }
}
