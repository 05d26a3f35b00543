using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Engine.Optim;

namespace MtlPrune.Engine.Tests;

public class BufferScopeTests
{
    [Fact]
    public void TensorsCreatedInsideAreReleasedAndFailLoudly()
    {
        Tensor inside;
        using (BufferScope.Begin()) inside = Tensor.Ones(4, 4) * 2f;
        Assert.True(inside.IsReleased);
        Assert.Throws<ObjectDisposedException>(() => inside.ToArray());
        Assert.Throws<ObjectDisposedException>(() => inside + Tensor.Ones(4, 4));
        Assert.Throws<ObjectDisposedException>(() => inside.Sum());
        Tensor scalar;
        using (BufferScope.Begin()) scalar = Tensor.Ones(3).Sum();
        Assert.Throws<ObjectDisposedException>(() => scalar.Item());
        Assert.Throws<ObjectDisposedException>(() => inside.Fill_(1f));
        Assert.Throws<ObjectDisposedException>(() => Tensor.Zeros(4, 4).CopyFrom(inside));
        Assert.Throws<ObjectDisposedException>(() => inside.CloneData());
    }

    [Fact]
    public void KeptTensorsParametersAndGradientsSurvive()
    {
        var conv = new Conv2d(2, 3, 3, padding: 1, rng: new Rng(1));
        var opt = new Sgd(conv.Parameters(), 0.1, momentum: 0.9);
        Tensor kept, view;
        Module built;
        using (BufferScope.Begin())
        {
            var y = conv.Forward(Tensor.Ones(1, 2, 4, 4));
            y.Sum().Backward();
            opt.Step();
            kept = BufferScope.Keep(y.Detach());
            view = y.Slice(1, 0, 1);
            built = new Conv2d(1, 1, 1, rng: new Rng(2));          // modules built inside a scope keep their parameters
        }
        Assert.False(conv.Weight.Grad!.IsReleased);
        Assert.Equal(conv.Weight.Shape, conv.Weight.Grad.Shape);
        Assert.False(kept.IsReleased);
        Assert.Equal(48, kept.ToArray().Length);
        Assert.False(view.IsReleased);                               // shares the kept buffer
        Assert.All(built.Parameters(), p => Assert.False(p.IsReleased));
    }

    [Fact]
    public void SteadyStateStepsReuseBuffersAndMatchUnscopedResults()
    {
        static float[] Train(bool scoped)
        {
            var rng = new Rng(3);
            var net = new Sequential(new Conv2d(3, 8, 3, padding: 1, rng: rng), new BatchNorm2d(8), new ReLU(), new Conv2d(8, 2, 1, rng: rng));
            var opt = new Adam(net.Parameters(), 0.01);
            var x = Tensor.Normal(new[] { 2, 3, 6, 6 }, rng);
            var t = Tensor.Normal(new[] { 2, 2, 6, 6 }, rng);
            for (int i = 0; i < 4; i++)
            {
                using var scope = scoped ? BufferScope.Begin() : null;
                opt.ZeroGrad();
                var loss = Loss.Mse(net.Forward(x), t);
                loss.Backward();
                opt.Step();
            }
            return net.Parameters().SelectMany(p => p.ToArray()).ToArray();
        }
        Assert.Equal(Train(false), Train(true));
        Assert.True(BufferScope.PooledBytes > 0);
    }

    [Fact]
    public void ScopesMustEndInOrder()
    {
        var outer = BufferScope.Begin();
        var inner = BufferScope.Begin();
        Assert.Throws<InvalidOperationException>(() => outer.Dispose());
        inner.Dispose();
        outer.Dispose();
        Assert.Null(BufferScope.Current);
    }

    [Fact]
    public void ZeroGradRecyclesAutogradBuffersButNotUserGradients()
    {
        var w = Tensor.Ones(3, 4).RequiresGrad_();
        var opt = new Sgd(new[] { w }, 0.1);
        (w * 2f).Sum().Backward();
        var first = w.Grad!;
        Assert.Equal(Enumerable.Repeat(2f, 12), first.ToArray());
        opt.ZeroGrad();
        Assert.Null(w.Grad);
        Assert.True(first.IsReleased);                                  // recycled: a stale reference fails loudly
        Assert.Throws<ObjectDisposedException>(() => first.ToArray());
        (w * 3f).Sum().Backward();
        Assert.Equal(Enumerable.Repeat(3f, 12), w.Grad!.ToArray());     // a fresh (possibly reused) buffer, fully overwritten
        var mine = Tensor.Full(new[] { 3, 4 }, 5f);
        w.Grad = mine;                                                  // assigned by the user: never recycled
        opt.ZeroGrad();
        Assert.False(mine.IsReleased);
        Assert.Equal(5f, mine[0, 0]);
    }
}
