using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Tasks;

namespace MtlPrune.Tests.Deploy;

/// <summary>Small pruned models with non-trivial batch-norm statistics, for the deployment tests.</summary>
internal static class DeployFixtures
{
    public static readonly TaskSpec[] DenseTasks =
    {
        new("seg", TaskKind.Segmentation, 5), new("depth", TaskKind.Depth, 1), new("normal", TaskKind.Normals, 3),
    };

    public static ModelSpec ResNet(TaskSpec[]? tasks = null) => ModelSpec.ResNetMini(tasks ?? DenseTasks) with { Widths = new[] { 8, 16, 16, 24 }, HeadWidth = 12 };

    /// <summary>DeepLab-ResNet's structure (ceil-mode max-pool stem, dilations, ASPP heads) at a small width.</summary>
    public static ModelSpec DeepLab() => ModelSpec.DeepLabResNet34(DenseTasks) with { Widths = new[] { 8, 8, 16, 16 }, Blocks = new[] { 1, 2, 1, 1 }, HeadWidth = 8 };

    public static ModelSpec MobileNet() => ModelSpec.MobileNetV2(DenseTasks) with { HeadWidth = 8 };

    /// <summary>
    /// Builds <paramref name="spec"/>, gives every batch norm random statistics and affine parameters, masks a random
    /// <paramref name="sparsity"/> of each conv/linear weight and puts the model in eval mode.
    /// </summary>
    public static MultiTaskModel Pruned(ModelSpec spec, double sparsity, ulong seed = 7)
    {
        var model = ModelFactory.Build(spec);
        var rng = new Rng(seed);
        foreach (var bn in model.NamedModules().Select(m => m.Module).OfType<BatchNorm2d>())
        {
            Fill(bn.RunningMean, rng, -0.2, 0.2);
            Fill(bn.RunningVar, rng, 0.5, 1.5);
            if (bn.Weight is not null) Fill(bn.Weight, rng, 0.5, 1.5);
            if (bn.Bias is not null) Fill(bn.Bias, rng, -0.2, 0.2);
        }
        if (sparsity > 0)
        {
            var masks = new MaskSet();
            foreach (var (name, layer) in model.NamedModules().Where(m => m.Module is IWeightedLayer).Select(m => (m.Name + ".weight", (IWeightedLayer)m.Module)))
            {
                var mask = new float[layer.Weight.Numel];
                for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextDouble() < sparsity ? 0f : 1f;
                masks.Set(name, Tensor.FromArray(mask, layer.Weight.Shape));
            }
            masks.Apply(model);
        }
        model.Eval();
        return model;
    }

    private static void Fill(Tensor t, Rng rng, double lo, double hi)
    {
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (float)(lo + (hi - lo) * rng.NextDouble());
    }

    /// <summary>max |a − b| / max(1, max |b|) over all values.</summary>
    /// <summary>
    /// What a fuzz input that parsed must survive: planning and one run on a 16×16 input, with the sparse kernel forced (no
    /// timed kernel choice per input: the sparse path runs every layer it can). A valid graph whose kernels do not fit
    /// 16×16 refuses with an ArgumentException, which is not a fault.
    /// </summary>
    public static void RunOnceIfItFits(InferenceGraph g)
    {
        try
        {
            var cm = new CompactModel(g);
            cm.ForceKernels(Engine.Inference.ConvKind.Sparse);
            cm.Run(Tensor.Zeros(1, g.InputChannels, 16, 16));
        }
        catch (ArgumentException) { }
    }

    public static double RelativeError(float[] a, float[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double diff = 0, scale = 1;
        for (int i = 0; i < a.Length; i++) { diff = Math.Max(diff, Math.Abs(a[i] - b[i])); scale = Math.Max(scale, Math.Abs(b[i])); }
        return diff / scale;
    }

    public static Dictionary<string, float[]> Reference(MultiTaskModel model, Tensor x)
    {
        using var _ = Autograd.NoGrad();
        return model.ForwardAll(x).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
    }
}
