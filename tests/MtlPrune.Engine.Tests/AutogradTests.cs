using MtlPrune.Engine;

namespace MtlPrune.Engine.Tests;

public class AutogradTests
{
    [Fact]
    public void GradientsAccumulateAcrossBackwardCalls()
    {
        var x = Tensor.FromArray(new float[] { 1, 2 }, 2).RequiresGrad_();
        (x * 3f).Sum().Backward();
        (x * 3f).Sum().Backward();
        Assert.Equal(new float[] { 6, 6 }, x.Grad!.ToArray());
    }

    [Fact]
    public void TensorUsedTwiceGetsBothContributions()
    {
        var x = Tensor.FromArray(new float[] { 3 }, 1).RequiresGrad_();
        Tensor.Mul(x, x).Sum().Backward();
        Assert.Equal(6f, x.Grad!.Item());
    }

    [Fact]
    public void LeafGradientsAreNotAliased()
    {
        var a = Tensor.Ones(3).RequiresGrad_(); var b = Tensor.Ones(3).RequiresGrad_();
        (a + b).Sum().Backward();
        Assert.NotSame(a.Grad, b.Grad);
        a.Grad!.Fill_(42f);
        Assert.Equal(new float[] { 1, 1, 1 }, b.Grad!.ToArray());
    }

    [Fact]
    public void NoGradScopeRecordsNothing()
    {
        var x = Tensor.Ones(2).RequiresGrad_();
        Tensor y;
        using (Autograd.NoGrad()) y = x * 2f;
        Assert.False(y.RequiresGrad);
        Assert.Null(y.GradFn);
        Assert.True(Autograd.IsGradEnabled);
    }

    [Fact]
    public void DetachStopsGradient()
    {
        var x = Tensor.Ones(2).RequiresGrad_();
        var y = (x * 2f).Detach();
        Assert.False(y.RequiresGrad);
        var z = Tensor.Mul(x, y).Sum();
        z.Backward();
        Assert.Equal(new float[] { 2, 2 }, x.Grad!.ToArray());
    }

    [Fact]
    public void FrozenParametersGetNoGradient()
    {
        var w = Tensor.Ones(2).RequiresGrad_(); var frozen = Tensor.Ones(2);
        Tensor.Mul(w, frozen).Sum().Backward();
        Assert.Null(frozen.Grad);
        Assert.NotNull(w.Grad);
    }

    [Fact]
    public void BackwardRules()
    {
        var x = Tensor.Ones(2).RequiresGrad_();
        Assert.Throws<InvalidOperationException>(() => (x * 2f).Backward());           // not scalar
        Assert.Throws<InvalidOperationException>(() => Tensor.Ones(1).Backward());    // no grad history
        var y = x * 2f;
        y.Backward(Tensor.FromArray(new float[] { 1, 10 }, 2));                       // explicit seed
        Assert.Equal(new float[] { 2, 20 }, x.Grad!.ToArray());
        Assert.Throws<InvalidOperationException>(() => y.RequiresGrad = false);
    }

    [Fact]
    public void ErrorsNameBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Ones(2, 3) + Tensor.Ones(4));
        Assert.Contains("[2, 3]", e.Message); Assert.Contains("[4]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Tensor.MatMul(Tensor.Ones(2, 3), Tensor.Ones(4, 5)));
        Assert.Contains("[2, 3]", e.Message); Assert.Contains("[4, 5]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Tensor.Conv2d(Tensor.Ones(1, 3, 5, 5), Tensor.Ones(4, 2, 3, 3), null, (1, 1), (0, 0), (1, 1)));
        Assert.Contains("[1, 3, 5, 5]", e.Message); Assert.Contains("[4, 2, 3, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Tensor.Ones(2, 3).Reshape(4, 2));
        Assert.Contains("[2, 3]", e.Message); Assert.Contains("[4, 2]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Loss.L1(Tensor.Ones(2, 3), Tensor.Ones(3, 2)));
        Assert.Contains("[2, 3]", e.Message); Assert.Contains("[3, 2]", e.Message);
    }

    [Fact]
    public void NonFiniteLossesAreNamed()
    {
        var logits = Tensor.FromArray(new[] { float.NaN, 0f }, 1, 2);
        var e = Assert.Throws<NonFiniteException>(() => Loss.CrossEntropy(logits, Tensor.FromArray(new float[] { 0 }, 1)));
        Assert.Equal("CrossEntropy", e.LossName);
        var e2 = Assert.Throws<NonFiniteException>(() => Loss.L1(Tensor.FromArray(new[] { float.PositiveInfinity }, 1), Tensor.Zeros(1)));
        Assert.Contains("L1", e2.Message);
        Assert.Contains("step 17", e2.AtStep(17).Message);
        var e3 = Assert.Throws<ArgumentException>(() => Loss.CrossEntropy(Tensor.Zeros(1, 2), Tensor.FromArray(new float[] { 5 }, 1)));
        Assert.Contains("label 5", e3.Message);
    }

    /// <summary>A tensor with a zero-size dimension is contiguous and empty (found by fuzzing the PyTorch reader).</summary>
    [Fact]
    public void ZeroSizeTensorsAreContiguousAndEmpty()
    {
        var t = Tensor.Zeros(8, 3, 0, 7);
        Assert.True(t.IsContiguous);
        Assert.Equal(0, t.Span.Length);
        Assert.Empty(t.ToArray());
        Assert.Equal(new[] { 8, 3, 0, 7 }, t.Shape);
    }
}
