using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Engine.NN;
using MtlPrune.Engine.Optim;

namespace MtlPrune.Engine.Tests;

/// <summary>The README's engine example, verbatim in substance: if this fails, the README is wrong.</summary>
public class ReadmeExampleTests
{
    private static Sequential Build(Rng rng) => new(
        new Conv2d(3, 16, 3, padding: 1, bias: false, rng: rng), new BatchNorm2d(16), new ReLU(),
        new MaxPool2d(2),
        new Conv2d(16, 4, 1, rng: rng));                    // 4-class logits per pixel

    [Fact]
    public void BuildTrainSaveReload()
    {
        var rng = new Rng(42);
        var net = Build(rng);
        var opt = new Sgd(net.Parameters(), lr: 0.05, momentum: 0.9);
        var x = Tensor.Normal(new[] { 8, 3, 16, 16 }, rng);
        // Label of output pixel (i, j): which quadrant the signs of input channels 0 and 1 at (2i, 2j) fall in.
        var labels = Tensor.Zeros(8, 8, 8);
        for (int n = 0; n < 8; n++)
            for (int i = 0; i < 8; i++)
                for (int j = 0; j < 8; j++)
                    labels[n, i, j] = (x[n, 0, 2 * i, 2 * j] > 0 ? 1 : 0) + (x[n, 1, 2 * i, 2 * j] > 0 ? 2 : 0);
        var losses = new List<float>();
        for (int step = 0; step < 30; step++)
        {
            opt.ZeroGrad();
            var loss = Loss.CrossEntropy(net.Forward(x), labels, ignoreIndex: 255);
            loss.Backward();
            opt.Step();
            losses.Add(loss.Item());
        }
        Assert.True(losses[^1] < 0.7f * losses[0], $"loss {losses[0]} -> {losses[^1]}");

        using var dir = new TempDir();
        var path = dir.File("tiny.safetensors");
        net.Eval();
        ModelFile.Save(net, path);
        var copy = Build(new Rng(7));
        ModelFile.Load(copy, path);
        copy.Eval();
        TensorAssert.Close(net.Forward(x), copy.Forward(x), 0, 0);
    }
}
