using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Engine.Inference;

namespace MtlPrune.Tests.Deploy;

/// <summary>Tests that measure process-wide allocation run with no other test alongside.</summary>
[CollectionDefinition("alone", DisableParallelization = true)]
public sealed class AloneCollection;

[Collection("alone")]
public class CompactModelAllocationTests
{
    /// <summary>In steady state a run into caller-owned buffers allocates nothing, with either kernel and fused residuals.</summary>
    [Theory]
    [InlineData(ConvKind.Dense), InlineData(ConvKind.Sparse)]
    public void RunsAllocateNothingInSteadyState(ConvKind kind)
    {
        var model = DeployFixtures.Pruned(DeployFixtures.DeepLab(), 0.9);          // max pool, dilations, ASPP sums, resize-free heads
        var cm = new CompactModel(GraphPasses.Optimize(ModelLowering.Lower(model)), (48, 40));
        cm.ForceKernels(kind);
        var x = Tensor.Normal(new[] { 1, 3, 48, 40 }, new Rng(2)).ToArray();
        var outs = cm.Tasks.ToDictionary(t => t, t => new float[cm.OutputShape(t, 1, 48, 40).Aggregate(1, (a, b) => a * b)]);
        for (int i = 0; i < 5; i++) cm.Run(x, 1, 48, 40, outs);
        long per = LeastPerRun(() => cm.Run(x, 1, 48, 40, outs));
        Assert.True(per < 256, $"{per} bytes per run");

        var resnet = new CompactModel(GraphPasses.Optimize(ModelLowering.Lower(DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.9))), (32, 32));
        resnet.ForceKernels(kind);
        var xr = Tensor.Normal(new[] { 1, 3, 32, 32 }, new Rng(3)).ToArray();
        var outr = resnet.Tasks.ToDictionary(t => t, t => new float[resnet.OutputShape(t, 1, 32, 32).Aggregate(1, (a, b) => a * b)]);
        for (int i = 0; i < 5; i++) resnet.Run(xr, 1, 32, 32, outr);
        per = LeastPerRun(() => resnet.Run(xr, 1, 32, 32, outr));
        Assert.True(per < 256, $"{per} bytes per run (resnet, residuals, resize)");
    }

    /// <summary>
    /// Bytes allocated per run, the least over five windows of 20 runs. The counter is process-wide, so a window can
    /// catch the test runner's own threads allocating; a run that allocates shows in every window.
    /// </summary>
    static long LeastPerRun(Action run)
    {
        long least = long.MaxValue;
        for (int w = 0; w < 5; w++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 20; i++) run();
            least = Math.Min(least, (GC.GetTotalAllocatedBytes(precise: true) - before) / 20);
        }
        return least;
    }
}
