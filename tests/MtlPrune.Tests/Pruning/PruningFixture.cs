using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Tasks;

namespace MtlPrune.Tests.Pruning;

/// <summary>Small models, data and targets shared by the pruning tests.</summary>
internal static class PruningFixture
{
    /// <summary>resnet-mini at widths 4/4/8/8, one block per stage, light heads of width 4 for seg, depth and normal.</summary>
    public static MultiTaskModel TinyModel(ulong seed = 1) =>
        ModelFactory.Build(ModelSpec.ResNetMini() with { Widths = new[] { 4, 4, 8, 8 }, Blocks = new[] { 1, 1, 1, 1 }, HeadWidth = 4 }, seed);

    /// <summary>Batches of 16×16 scenes with seg, depth and normal targets.</summary>
    public static List<Batch> Batches(int count, int batch = 2, ulong seed = 5)
    {
        var data = new ScenesDataset(Split.Train, count * batch, 16, 16, seed);
        using var loader = new DataLoader(data, batch, shuffle: false);
        return loader.Epoch().ToList();
    }

    /// <summary>Fake targets for mask-building tests: a conv layer of <paramref name="n"/> weights per entry.</summary>
    public static List<PrunableTensor> FakeTargets(int backbone, int backboneSize, IReadOnlyList<string> tasks, int headSize, Rng rng)
    {
        var list = new List<PrunableTensor>();
        for (int i = 0; i < backbone; i++)
            list.Add(new PrunableTensor($"backbone.{i}.weight", new Conv2d(1, backboneSize, 1, bias: false, rng: rng), ParamRole.Shared, LayerType.Pointwise));
        foreach (var t in tasks)
            list.Add(new PrunableTensor($"heads.{t}.weight", new Conv2d(1, headSize, 1, bias: false, rng: rng), ParamRole.Head(t), LayerType.Pointwise));
        return list;
    }

    /// <summary>Uniform random scores per task over its sub-model.</summary>
    public static List<IReadOnlyList<float[]?>> RandomScores(IReadOnlyList<PrunableTensor> targets, IReadOnlyList<string> tasks, Rng rng) =>
        tasks.Select(t => (IReadOnlyList<float[]?>)targets.Select(p => p.BelongsTo(t)
            ? Enumerable.Range(0, p.Numel).Select(_ => (float)rng.NextDouble()).ToArray() : null).ToList()).ToList();

    /// <summary>A mask as a bool array.</summary>
    public static bool[] Keep(MaskSet masks, string name) => masks.Masks[name].ToArray().Select(v => v != 0).ToArray();
}
