using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Engine.Optim;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Training;

namespace MtlPrune.Tests.Pruning;

public class MaskTests
{
    private static Tensor RandomMask(int[] shape, double keep, Rng rng) =>
        Tensor.FromArray(Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => rng.NextDouble() < keep ? 1f : 0f).ToArray(), shape);

    /// <summary>Forward uses W ⊙ M, and masked entries of W get a zero gradient (as PyTorch's test_random_pruning checks).</summary>
    [Fact]
    public void MaskedLayerComputesWithWTimesMAndMasksTheGradient()
    {
        var rng = new Rng(4);
        var conv = new Conv2d(3, 5, 3, padding: 1, rng: rng);
        var mask = RandomMask(conv.Weight.Shape, 0.4, rng);
        var x = Tensor.Normal(new[] { 2, 3, 6, 6 }, rng);
        var reference = Tensor.Conv2d(x, conv.Weight * mask, conv.Bias, (1, 1), (1, 1), (1, 1), 1).ToArray();
        conv.Parametrization = new WeightMask(mask);
        var y = conv.Forward(x);
        Assert.Equal(reference, y.ToArray());
        y.Square().Sum().Backward();
        var g = conv.Weight.Grad!.ToArray(); var m = mask.ToArray();
        for (int i = 0; i < g.Length; i++) if (m[i] == 0) Assert.Equal(0f, g[i]);
        Assert.Contains(g, v => v != 0);
    }

    /// <summary>Apply zeroes the pruned weights; the mask round-trips through MaskSet.FromModel; bad masks are refused by name.</summary>
    [Fact]
    public void ApplyZeroesPrunedWeightsAndRejectsForeignMasks()
    {
        var model = PruningFixture.TinyModel();
        var rng = new Rng(5);
        var name = "backbone.layer1.0.conv1.weight";
        var w = model.StateDict()[name];
        var masks = new MaskSet();
        masks.Set(name, RandomMask(w.Shape, 0.3, rng));
        masks.Apply(model);
        var m = masks.Masks[name].ToArray(); var wv = w.ToArray();
        for (int i = 0; i < m.Length; i++) if (m[i] == 0) Assert.Equal(0f, wv[i]);
        Assert.Same(masks.Masks[name], MaskSet.FromModel(model).Masks[name]);
        var bad = new MaskSet();
        bad.Set("backbone.nothing.weight", Tensor.Ones(2));
        Assert.Contains("backbone.nothing.weight", Assert.Throws<ArgumentException>(() => bad.Apply(model)).Message);
        var wrong = new MaskSet();
        wrong.Set(name, Tensor.Ones(3));
        Assert.Contains("shape", Assert.Throws<ArgumentException>(() => wrong.Apply(model)).Message);
        Assert.Contains("0 and 1", Assert.Throws<ArgumentException>(() => new MaskSet().Set(name, Tensor.Full(new[] { 2 }, 0.5f))).Message);
    }

    /// <summary>
    /// Pruned weights stay exactly 0 through training with Adam and L2 weight decay: through the masked gradient alone
    /// (no after-step enforcement), and, with enforcement, even when the optimizer carried momentum from before pruning.
    /// </summary>
    [Fact]
    public void ZeroWeightsStayZeroThroughAdamWithWeightDecayAndThroughStaleMomentum()
    {
        var batches = PruningFixture.Batches(4);
        foreach (bool enforce in new[] { false, true })
        {
            var model = PruningFixture.TinyModel(3);
            var rng = new Rng(6);
            var opt = new Adam(model.Parameters(), lr: 1e-2, weightDecay: 1e-2);
            void Step(Data.Batch b)
            {
                opt.ZeroGrad();
                var o = model.ForwardAll(b.Images);
                var loss = model.Tasks.Select(t => LossTargets.Loss(t, o[t.Name], b.Targets[t.Name])).Aggregate((a, c) => a + c);
                loss.Backward();
                opt.Step();
                if (enforce) MaskSet.Enforce(model, opt);
            }
            if (enforce) Step(batches[0]);                     // momentum before pruning
            var masks = new MaskSet();
            foreach (var p in new PruningSelection().Select(model)) masks.Set(p.Name, RandomMask(p.Weight.Shape, 0.3, rng));
            masks.Apply(model);
            var before = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
            if (enforce) MaskSet.Enforce(model, opt);
            foreach (var b in batches) Step(b);
            bool anyChanged = false;
            foreach (var (name, mask) in masks.Masks)
            {
                var m = mask.ToArray(); var now = model.StateDict()[name].ToArray();
                for (int i = 0; i < m.Length; i++)
                {
                    if (m[i] == 0) Assert.True(now[i] == 0f, $"{name}[{i}] = {now[i]} after training (enforce {enforce})");
                    else anyChanged |= now[i] != before[name][i];
                }
                if (enforce)
                    foreach (var buf in opt.StateOf(model.StateDict()[name])!)
                        for (int i = 0; i < m.Length; i++) if (m[i] == 0) Assert.Equal(0f, buf[i]);
            }
            Assert.True(anyChanged, "kept weights should train");
        }
    }

    [Fact]
    public void SelectionByRoleTypeAndGlob()
    {
        var model = PruningFixture.TinyModel();
        var all = new PruningSelection().Select(model);
        Assert.Equal(model.ParameterInfos().Count(p => p.Prunable), all.Count);
        Assert.All(new PruningSelection { Roles = new[] { "backbone" } }.Select(model), p => Assert.True(p.Role.IsShared));
        Assert.All(new PruningSelection { Roles = new[] { "head:seg" } }.Select(model), p => Assert.Equal("seg", p.Role.Task));
        Assert.All(new PruningSelection { Roles = new[] { "heads" } }.Select(model), p => Assert.False(p.Role.IsShared));
        Assert.All(new PruningSelection { Types = new[] { LayerType.Pointwise } }.Select(model), p => Assert.Equal((1, 1), ((Conv2d)p.Layer).KernelSize));
        var l4 = new PruningSelection { Include = new[] { "backbone.layer4.**" } }.Select(model);
        Assert.Equal(new[] { "backbone.layer4.0.conv1.weight", "backbone.layer4.0.conv2.weight", "backbone.layer4.0.downsample.0.weight" }, l4.Select(p => p.Name));
        Assert.DoesNotContain(new PruningSelection { Exclude = new[] { "backbone.conv1", "heads.*.conv2" } }.Select(model),
            p => p.Name is "backbone.conv1.weight" || p.Name.EndsWith("conv2.weight") && p.Name.StartsWith("heads."));
        var e = Assert.Throws<ArgumentException>(() => new PruningSelection { Roles = new[] { "head:edges" } }.Select(model));
        Assert.Contains("--roles", e.Message); Assert.Contains("edges", e.Message);
        Assert.Contains("--dry-run", Assert.Throws<ArgumentException>(() => new PruningSelection { Include = new[] { "nothing.*" } }.Select(model)).Message);
        Assert.Contains("--layer-types", Assert.Throws<ArgumentException>(() => PruningSelection.ParseType("lstm")).Message);
    }

    /// <summary>Counts and MACs of a layer whose numbers are known by hand, in all three conventions.</summary>
    [Fact]
    public void SparsityReportCountsWeightsParametersAndMacs()
    {
        var model = PruningFixture.TinyModel();
        var name = "backbone.conv1.weight";          // conv3×3 s1 p1, 3 → 4 channels at 16×16: 108 weights, 108·256 MACs
        var masks = new MaskSet();
        var m = new float[108]; for (int i = 0; i < 27; i++) m[i * 4] = 1;
        masks.Set(name, Tensor.FromArray(m, 4, 3, 3, 3));
        masks.Apply(model);
        var r = SparsityReport.Measure(model, new[] { 3, 16, 16 }, new HashSet<string> { name }, 0.75);
        var layer = r.Layers.Single(l => l.Name == name);
        Assert.Equal((108L, 27L, 108L * 256, 27L * 256), (layer.Numel, layer.Nonzero, layer.DenseMacs, layer.NonzeroMacs));
        Assert.Equal(0.75, r.Selected.Sparsity, 12);
        long conv = model.ParameterInfos().Where(p => p.Prunable).Sum(p => (long)p.Tensor.Numel);
        Assert.Equal(conv, r.ConvLinear.Numel);
        Assert.Equal(81.0 / conv, r.ConvLinear.Sparsity, 12);
        Assert.Equal(model.ParameterCount(), r.AllParameters.Numel);
        Assert.True(r.AllParameters.Nonzero <= r.AllParameters.Numel - 81);
        // Heads run on the 2×2 features (strides 1, 2, 2, 2 after a stride-1 stem) and upsample afterwards.
        var segOut = r.Layers.Single(l => l.Name == "heads.seg.conv2.weight");
        Assert.Equal(segOut.Numel * 2 * 2, segOut.DenseMacs);
        Assert.Equal(r.Components.Sum(c => c.Numel), r.ConvLinear.Numel);
    }

    /// <summary>A pruned checkpoint stores masks (U8) beside weights that are exactly 0, and loading reinstalls them.</summary>
    [Fact]
    public void CheckpointRoundTripsMasksAsBytes()
    {
        using var dir = new TempDir();
        var model = PruningFixture.TinyModel();
        var rng = new Rng(8);
        var masks = new MaskSet();
        foreach (var p in new PruningSelection().Select(model)) masks.Set(p.Name, RandomMask(p.Weight.Shape, 0.2, rng));
        masks.Apply(model);
        Checkpoint.Save(model, dir.File("p.safetensors"));
        var file = Engine.IO.SafeTensors.Read(dir.File("p.safetensors"));
        Assert.Equal(Engine.DType.U8, file.Tensors.Single(t => t.Name == "backbone.conv1.weight_mask").DType);
        var (loaded, _) = Checkpoint.Load(dir.File("p.safetensors"));
        var back = MaskSet.FromModel(loaded);
        Assert.Equal(masks.Count, back.Count);
        foreach (var (name, mask) in masks.Masks)
        {
            Assert.Equal(mask.ToArray(), back.Masks[name].ToArray());
            Assert.Equal(model.StateDict()[name].ToArray(), loaded.StateDict()[name].ToArray());
        }
        using (Autograd.NoGrad())
        {
            model.Eval(); loaded.Eval();
            var x = Tensor.Normal(new[] { 1, 3, 16, 16 }, rng);
            Assert.Equal(model.ForwardAll(x)["seg"].ToArray(), loaded.ForwardAll(x)["seg"].ToArray());
        }
    }
}
