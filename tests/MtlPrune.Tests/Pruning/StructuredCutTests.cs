using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using MtlPrune.Training;

namespace MtlPrune.Tests.Pruning;

/// <summary>
/// Structured CUT: whole filters go, chosen by per-filter sums of CUT's scores with the same fusion; task output layers
/// stay whole; a pruned filter's channel is exactly zero (its batch norm's γ and β are masked too), stays zero through
/// fine-tuning and checkpoints, and channel compaction turns the model into a smaller dense one with the same outputs.
/// </summary>
public class StructuredCutTests
{
    private static MultiTaskModel Model() =>
        ModelFactory.Build(ModelSpec.ResNetMini() with { Widths = new[] { 8, 8, 16, 16 }, Blocks = new[] { 1, 1, 1, 1 }, HeadWidth = 8 }, 2).SelectTasks("seg", "depth");

    private static (MultiTaskModel Model, PruningResult Result, IReadOnlyList<PrunableTensor> Targets) Prune(double sparsity, string fusion = "or")
    {
        var model = Model();
        var batches = PruningFixture.Batches(2);
        var targets = new PruningSelection().Select(model);
        var ctx = new PruningContext { Model = model, Targets = targets, Sparsity = sparsity, CalibrationBatches = n => batches.Take(n) };
        var r = new Cut(new CutOptions { CalibrationBatches = 2, Fusion = Fusion.Parse(fusion), Filters = true }).Prune(ctx);
        r.Masks.Apply(model);
        return (model, r, targets);
    }

    [Theory]
    [InlineData(0.5, "or"), InlineData(0.7, "and"), InlineData(0.3, "vote")]
    public void WholeFiltersGoAndOutputLayersStay(double sparsity, string fusion)
    {
        var (model, r, targets) = Prune(sparsity, fusion);
        var outputs = ModelLowering.OutputLayers(model);
        Assert.Equal(new[] { "heads.depth.conv2", "heads.seg.conv2" }, outputs.Order());
        long kept = 0, total = 0;
        foreach (var t in targets)
        {
            var m = r.Masks.Masks[t.Name].ToArray();
            int filters = t.Weight.Shape[0], per = m.Length / filters;
            for (int f = 0; f < filters; f++)
            {
                var filter = m.AsSpan(f * per, per);
                Assert.True(filter.IndexOfAnyExcept(0f) < 0 || filter.IndexOfAnyExcept(1f) < 0, $"{t.Name} filter {f} is split");
            }
            if (outputs.Contains(t.Name[..^".weight".Length])) Assert.All(m, v => Assert.Equal(1f, v));
            kept += m.Count(v => v != 0); total += m.Length;
        }
        Assert.InRange(1 - (double)kept / total, sparsity - 0.05, sparsity + 0.05);      // one filter per task may round either way
        Assert.True((int)r.Details["prunedFilters"]! > 0);
    }

    [Fact]
    public void APrunedFiltersChannelIsExactlyZero()
    {
        var (model, r, _) = Prune(0.5);
        var modules = model.NamedModules().ToDictionary(m => m.Name, m => m.Module);
        int checkedLayers = 0;
        foreach (var (convName, bnName) in ModelLowering.BatchNormAfterConv(model))
        {
            var bn = (BatchNorm2d)modules[bnName];
            var conv1 = (Conv2d)modules[convName];
            var mask = r.Masks.Masks[convName + ".weight"].ToArray();
            int per = mask.Length / conv1.OutChannels;
            var dead = Enumerable.Range(0, conv1.OutChannels).Where(f => mask[f * per] == 0).ToList();
            if (dead.Count == 0) { Assert.False(r.Masks.TryGet(bnName + ".weight", out _)); continue; }
            checkedLayers++;
            foreach (var f in dead) { Assert.Equal(0f, bn.Weight!.Span[f]); Assert.Equal(0f, bn.Bias!.Span[f]); }
            Assert.True(r.Masks.TryGet(bnName + ".weight", out _) && r.Masks.TryGet(bnName + ".bias", out _));
            AssertChannelsZero(model, conv1, bn, dead);
        }
        Assert.True(checkedLayers > 0);
    }

    private static void AssertChannelsZero(MultiTaskModel model, Conv2d conv1, BatchNorm2d bn, List<int> dead)
    {
        // The channel's activations after batch norm are 0 in both modes.
        var x = Tensor.Normal(new[] { 2, 3, 16, 16 }, new Rng(1));
        foreach (bool train in new[] { true, false })
        {
            model.Train(train);
            Tensor? convOut = null;
            conv1.ForwardHook = (_, _, y) => convOut = y;
            using (Autograd.NoGrad())
            {
                model.ForwardAll(x);
                var y = bn.Forward(convOut!).ToArray();
                int plane = convOut!.Shape[2] * convOut.Shape[3];
                foreach (var f in dead)
                    for (int n = 0; n < 2; n++) Assert.All(y.AsSpan((n * conv1.OutChannels + f) * plane, plane).ToArray(), v => Assert.Equal(0f, v));
            }
            conv1.ForwardHook = null;
        }
    }

    [Fact]
    public void ChannelsStayZeroThroughFineTuningAndCheckpoints()
    {
        using var dir = new TempDir();
        var cfg = new TrainConfig
        {
            Widths = new[] { 8, 8, 16, 16 }, Blocks = new[] { 1, 1, 1, 1 }, HeadWidth = 8, Size = 16, TrainCount = 16, ValCount = 4,
            Iterations = 2, Batch = 4, EvalEvery = 2, Output = dir.File("dense"),
        };
        var dense = new Trainer(cfg).Run().BestCheckpoint;
        new PruneJob(new PruneOptions
        {
            Checkpoint = dense, Tasks = new[] { "seg", "depth" }, Sparsity = 0.5, Output = dir.File("out"), FinetuneIterations = 4, EvalEvery = 2, TestCount = 4, Lr = 1e-2,
        }, new Cut(new CutOptions { CalibrationBatches = 2, Fusion = Fusion.Or, Filters = true })).Run();
        var (model, _) = Checkpoint.Load(dir.File("out/pruned.safetensors"));
        var masks = MaskSet.FromModel(model);
        var bnMasks = masks.Masks.Keys.Where(k => !MaskSet.IsLayerWeight(model, k)).ToList();
        Assert.NotEmpty(bnMasks);
        var parameters = model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var name in bnMasks)
        {
            var m = masks.Masks[name].ToArray(); var v = parameters[name].ToArray();
            for (int i = 0; i < m.Length; i++) if (m[i] == 0) Assert.Equal(0f, v[i]);
        }

        // Compaction removes the dead channels and keeps the outputs.
        model.Eval();
        var g = GraphPasses.Optimize(ModelLowering.Lower(model));
        var compact = ChannelCompaction.Compact(g, out var report);
        Assert.True(report.ChannelsAfter < report.ChannelsBefore, $"{report}");
        Assert.True(report.WeightsAfter < report.WeightsBefore);
        var x = Tensor.Normal(new[] { 1, 3, 20, 20 }, new Rng(8));
        Dictionary<string, float[]> want;
        using (Autograd.NoGrad()) want = model.ForwardAll(x).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
        var got = new CompactModel(compact).Run(x);
        foreach (var t in want.Keys)
        {
            var a = got[t].ToArray(); var b = want[t];
            double diff = a.Zip(b, (p, q) => Math.Abs(p - q)).Max(), scale = Math.Max(1, b.Max(Math.Abs));
            Assert.True(diff / scale < 1e-4, $"{t}: {diff / scale}");
        }
    }
}
