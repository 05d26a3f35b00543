using MtlPrune.Engine;
using MtlPrune.Engine.NN;

namespace MtlPrune.Engine.Tests;

/// <summary>A block shaped like torchvision's BasicBlock, to check PyTorch-style names.</summary>
internal sealed class Block : Module
{
    public Block(int c, Rng rng, bool downsample)
    {
        Conv1 = RegisterModule("conv1", new Conv2d(c, c, 3, padding: 1, bias: false, rng: rng));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(c));
        if (downsample) RegisterModule("downsample", new Sequential(new Conv2d(c, c, 1, bias: false, rng: rng), new BatchNorm2d(c)));
    }
    public Conv2d Conv1 { get; }
    public BatchNorm2d Bn1 { get; }
    public override Tensor Forward(Tensor x) => Bn1.Forward(Conv1.Forward(x)).Relu();
}

internal sealed class Net : Module
{
    public Net(Rng rng)
    {
        RegisterModule("conv1", new Conv2d(3, 4, 3, padding: 1, rng: rng));
        RegisterModule("layer1", new Sequential(new Block(4, rng, true), new Block(4, rng, false)));
        var heads = RegisterModule("heads", new ModuleDict());
        heads.Add("seg", new Conv2d(4, 5, 1, rng: rng));
    }
}

public class ModuleTests
{
    [Fact]
    public void NamesFollowPyTorchConvention()
    {
        var net = new Net(new Rng(1));
        var names = net.NamedParameters().Select(p => p.Name).ToList();
        Assert.Equal(new[]
        {
            "conv1.weight", "conv1.bias",
            "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
            "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight", "layer1.0.downsample.1.bias",
            "layer1.1.conv1.weight", "layer1.1.bn1.weight", "layer1.1.bn1.bias",
            "heads.seg.weight", "heads.seg.bias",
        }, names);
        var buffers = net.NamedBuffers().Select(b => b.Name).ToList();
        Assert.Contains("layer1.0.bn1.running_mean", buffers);
        Assert.Contains("layer1.0.downsample.1.num_batches_tracked", buffers);
        Assert.Equal(new[] { "", "conv1", "layer1", "layer1.0", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.downsample",
            "layer1.0.downsample.0", "layer1.0.downsample.1", "layer1.1", "layer1.1.conv1", "layer1.1.bn1", "heads", "heads.seg" },
            net.NamedModules().Select(m => m.Name));
        var sd = net.StateDict();
        Assert.Equal(names.Count + buffers.Count, sd.Count);
        // PyTorch order: each module's parameters, then its buffers, then its children.
        Assert.Equal(new[] { "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean" }, sd.Keys.Skip(3).Take(3));
    }

    [Fact]
    public void SameSeedSameModelDifferentSeedDifferent()
    {
        var a = new Net(new Rng(7)).StateDict(); var b = new Net(new Rng(7)).StateDict(); var c = new Net(new Rng(8)).StateDict();
        foreach (var k in a.Keys) Assert.Equal(a[k].ToArray(), b[k].ToArray());
        Assert.NotEqual(a["conv1.weight"].ToArray(), c["conv1.weight"].ToArray());
    }

    [Fact]
    public void LoadStateDictReportsAndProtects()
    {
        var net = new Net(new Rng(1));
        var src = new Net(new Rng(2)).StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.CloneData());
        var w = net.StateDict()["conv1.weight"];
        Assert.True(net.LoadStateDict(src).IsClean);
        Assert.Same(w, net.StateDict()["conv1.weight"]);            // loaded in place: optimizers keep their tensors
        Assert.Equal(src["conv1.weight"].ToArray(), w.ToArray());

        var bad = new Dictionary<string, Tensor>(src);
        bad.Remove("heads.seg.bias");
        bad["extra.weight"] = Tensor.Ones(1);
        bad["conv1.weight"] = Tensor.Ones(4, 3, 5, 5);
        var before = net.StateDict()["layer1.1.conv1.weight"].ToArray();
        bad["layer1.1.conv1.weight"] = Tensor.Zeros(4, 4, 3, 3);
        var e = Assert.Throws<StateDictException>(() => net.LoadStateDict(bad, strict: true));
        Assert.Equal(new[] { "heads.seg.bias" }, e.Result.MissingKeys);
        Assert.Equal(new[] { "extra.weight" }, e.Result.UnexpectedKeys);
        Assert.Single(e.Result.ShapeMismatches);
        Assert.Contains("conv1.weight", e.Message);
        Assert.Equal(before, net.StateDict()["layer1.1.conv1.weight"].ToArray()); // strict failure copies nothing

        var r = net.LoadStateDict(bad, strict: false);
        Assert.False(r.IsClean);
        Assert.All(net.StateDict()["layer1.1.conv1.weight"].ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void TrainEvalPropagatesAndFreezeStopsGradients()
    {
        var net = new Net(new Rng(1));
        net.Eval();
        Assert.All(net.NamedModules(), m => Assert.False(m.Module.Training));
        net.Train();
        Assert.All(net.NamedModules(), m => Assert.True(m.Module.Training));
        var seq = new Sequential(new Conv2d(3, 4, 3, rng: new Rng(1)), new ReLU(), new Conv2d(4, 2, 1, rng: new Rng(2)));
        seq[0].SetRequiresGrad(false);
        seq.Forward(Tensor.Normal(new[] { 1, 3, 5, 5 }, new Rng(3))).Sum().Backward();
        Assert.All(seq[0].Parameters(), p => Assert.Null(p.Grad));
        Assert.All(seq[2].Parameters(), p => Assert.NotNull(p.Grad));
    }

    [Fact]
    public void BatchNormTrainAndEvalInvariants()
    {
        var bn = new BatchNorm2d(3, momentum: 0.1f);
        var x = Tensor.Normal(new[] { 4, 3, 5, 5 }, new Rng(1)) * 2f + 3f;
        var y = bn.Forward(x);
        var mean = y.Mean(new[] { 0, 2, 3 }).ToArray();
        var var_ = y.Square().Mean(new[] { 0, 2, 3 }).ToArray();
        Assert.All(mean, m => Assert.True(Math.Abs(m) < 1e-5));
        Assert.All(var_, v => Assert.True(Math.Abs(v - 1) < 1e-3));
        Assert.Equal(1f, bn.NumBatchesTracked.Item());
        var xm = x.Mean(new[] { 0, 2, 3 }).ToArray();
        for (int c = 0; c < 3; c++) Assert.Equal(0.1 * xm[c], bn.RunningMean[c], 4);
        // running_var uses the unbiased variance: n/(n-1) with n = 100
        var xc = x.Slice(1, 0, 1).ToArray();
        double mu = xc.Average(v => (double)v), unbiased = xc.Sum(v => (v - mu) * (v - mu)) / 99;
        Assert.Equal(0.9 + 0.1 * unbiased, bn.RunningVar[0], 3);
        bn.Eval();
        var ye = bn.Forward(x);
        float expect = (float)((x[0, 0, 0, 0] - bn.RunningMean[0]) / Math.Sqrt(bn.RunningVar[0] + 1e-5));
        Assert.Equal(expect, ye[0, 0, 0, 0], 4);
        Assert.Equal(1f, bn.NumBatchesTracked.Item());
        Assert.Throws<ArgumentException>(() => new BatchNorm2d(3).Forward(Tensor.Ones(1, 3, 1, 1)));
    }

    [Fact]
    public void LayersComputeTheirFunctions()
    {
        var rng = new Rng(1);
        var lin = new Linear(5, 3, rng: rng);
        var x = Tensor.Normal(new[] { 2, 5 }, rng);
        TensorAssert.Close(Tensor.Add(Tensor.MatMul(x, lin.Weight.Detach().Transpose(0, 1).Contiguous()), lin.Bias!.Detach()), lin.Forward(x), 1e-5);
        var img = Tensor.Normal(new[] { 1, 2, 6, 6 }, rng);
        Assert.Equal(new[] { 1, 2, 3, 3 }, new MaxPool2d(2).Forward(img).Shape);
        Assert.Equal(new[] { 1, 2, 3, 3 }, new AvgPool2d(2).Forward(img).Shape);
        Assert.Equal(new[] { 1, 2, 1, 1 }, new AdaptiveAvgPool2d(1).Forward(img).Shape);
        Assert.Equal(new[] { 1, 2, 12, 12 }, new Upsample(scaleFactor: 2, mode: ResizeMode.Bilinear).Forward(img).Shape);
        Assert.Equal(new[] { 1, 2, 4, 5 }, new Upsample(size: (4, 5)).Forward(img).Shape);
        Assert.Equal(6f, new ReLU6().Forward(Tensor.Full(new[] { 1 }, 9f)).Item());
        Assert.Equal(0f, new ReLU().Forward(Tensor.Full(new[] { 1 }, -9f)).Item());
        var drop = new Dropout(0.5f, new Rng(3));
        drop.Eval();
        Assert.Same(img, drop.Forward(img));
        var conv = new Conv2d(4, 8, 3, stride: 2, padding: 1, groups: 4, bias: false, rng: rng);
        Assert.Equal(new[] { 8, 1, 3, 3 }, conv.Weight.Shape);
        Assert.Null(conv.Bias);
        Assert.Single(conv.NamedParameters());
        Assert.Equal(new[] { 1, 8, 3, 3 }, conv.Forward(Tensor.Ones(1, 4, 6, 6)).Shape);
    }

    [Fact]
    public void InitializersHaveTheirStatistics()
    {
        var rng = new Rng(1);
        var t = Tensor.Zeros(256, 128, 3, 3); // fan_in 1152, fan_out 2304
        double Std(Tensor x) { var a = x.ToArray(); double m = a.Average(v => (double)v); return Math.Sqrt(a.Average(v => (v - m) * (v - m))); }
        Init.KaimingNormal(t, rng, FanMode.FanOut);
        Assert.Equal(Math.Sqrt(2.0 / 2304), Std(t), 3);
        Init.KaimingNormal(t, rng);
        Assert.Equal(Math.Sqrt(2.0 / 1152), Std(t), 3);
        Init.KaimingUniform(t, rng);
        Assert.True(t.ToArray().Max() <= Math.Sqrt(6.0 / 1152) && t.ToArray().Min() >= -Math.Sqrt(6.0 / 1152));
        Assert.Equal(Math.Sqrt(2.0 / 1152), Std(t), 3);
        Init.XavierNormal(t, rng);
        Assert.Equal(Math.Sqrt(2.0 / (1152 + 2304)), Std(t), 3);
        Init.XavierUniform(t, rng);
        Assert.True(t.ToArray().Max() <= Math.Sqrt(6.0 / 3456));
        Init.Normal(t, rng, 0, 0.01);
        Assert.Equal(0.01, Std(t), 3);
        Init.Constant(t, 0.5f);
        Assert.All(t.ToArray(), v => Assert.Equal(0.5f, v));
        var w = Tensor.Zeros(8, 9); var b = Tensor.Zeros(8);
        Init.PyTorchDefault(w, b, rng);
        Assert.All(w.ToArray().Concat(b.ToArray()), v => Assert.InRange(v, -1 / 3f, 1 / 3f));
    }
}
