using MtlPrune.Engine;
using Xunit.Sdk;

namespace MtlPrune.Engine.Tests;

/// <summary>The checker must be able to fail: an op with a deliberately wrong backward is rejected.</summary>
public class GradCheckSelfTests
{
    private static Tensor WrongSquare(Tensor x)
    {
        var y = Tensor.FromArray(x.ToArray().Select(v => v * v).ToArray(), x.Shape);
        // Correct would be 2·x·g; this forgets the factor 2.
        return y.WithGrad("WrongSquare", new[] { x }, g => Autograd.Accumulate(x, Tensor.Mul(g, x.Detach())));
    }

    [Fact]
    public void DetectsAWrongBackward()
    {
        var x = GradCheck.Randn(new Rng(3), 3, 4);
        Assert.ThrowsAny<XunitException>(() => GradCheck.Check(t => WrongSquare(t[0]), new[] { x }));
    }

    [Fact]
    public void DetectsAMissingGradient()
    {
        var x = GradCheck.Randn(new Rng(3), 3, 4);
        var y = GradCheck.Randn(new Rng(4), 3, 4);
        Assert.ThrowsAny<XunitException>(() => GradCheck.Check(t => Tensor.Add(t[0], t[1].Detach()), new[] { x, y }));
    }
}
