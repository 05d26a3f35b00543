using System.Numerics.Tensors;

namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>max(x, 0) (~ <c>relu</c>). The gradient at exactly 0 is 0, as in PyTorch.</summary>
    public Tensor Relu()
    {
        var x = Contiguous();
        var r = Empty(Shape);
        TensorPrimitives.Max(x.Span, 0f, r.Span);
        return r.WithGrad("Relu", new[] { x }, g => Autograd.Accumulate(x, MaskedBy(g, r, 0f, float.PositiveInfinity)));
    }

    /// <summary>min(max(x, 0), 6) (~ <c>relu6</c>).</summary>
    public Tensor Relu6() => ClampOp("Relu6", 0f, 6f);

    /// <summary>Limits to [min, max] (~ <c>clamp</c>); gradient 1 strictly inside, 0 outside.</summary>
    public Tensor Clamp(float min, float max)
    {
        if (min > max) throw new ArgumentException($"Clamp: min {min} is greater than max {max}.");
        return ClampOp("Clamp", min, max);
    }

    private Tensor ClampOp(string op, float min, float max)
    {
        var x = Contiguous();
        var r = Empty(Shape);
        TensorPrimitives.Clamp(x.Span, min, max, r.Span);
        return r.WithGrad(op, new[] { x }, g => Autograd.Accumulate(x, MaskedBy(g, x, min, max)));
    }

    /// <summary>1 / (1 + exp(-x)) (~ <c>sigmoid</c>).</summary>
    public Tensor Sigmoid()
    {
        var x = Contiguous();
        var r = Empty(Shape);
        TensorPrimitives.Sigmoid(x.Span, r.Span);
        return r.WithGrad("Sigmoid", new[] { x }, g =>
        {
            var d = Empty(x.Shape);
            var rs = r.Span; var gs = g.Contiguous().Span; var ds = d.Span;
            for (int i = 0; i < ds.Length; i++) ds[i] = gs[i] * rs[i] * (1f - rs[i]);
            Autograd.Accumulate(x, d);
        });
    }

    /// <summary>|x| (~ <c>abs</c>); gradient sign(x), 0 at 0.</summary>
    public Tensor Abs()
    {
        var x = Contiguous();
        var r = Empty(Shape);
        TensorPrimitives.Abs(x.Span, r.Span);
        return r.WithGrad("Abs", new[] { x }, g => Autograd.Accumulate(x, Mul(g, x.SignNoGrad())));
    }

    /// <summary>sign(x) in {-1, 0, 1} (~ <c>sign</c>); its gradient is 0 everywhere.</summary>
    public Tensor Sign()
    {
        var x = Contiguous();
        var r = x.SignNoGrad();
        return r.WithGrad("Sign", new[] { x }, _ => Autograd.Accumulate(x, Zeros(x.Shape)));
    }

    private Tensor SignNoGrad()
    {
        var r = Empty(Shape);
        var xs = Contiguous().Span; var rs = r.Span;
        for (int i = 0; i < rs.Length; i++) rs[i] = xs[i] > 0 ? 1f : xs[i] < 0 ? -1f : 0f;
        return r;
    }

    /// <summary>e^x (~ <c>exp</c>).</summary>
    public Tensor Exp()
    {
        var x = Contiguous();
        var r = Empty(Shape);
        Kernels.VectorMath.Exp(x.Span, r.Span);
        return r.WithGrad("Exp", new[] { x }, g => Autograd.Accumulate(x, Mul(g, r)));
    }

    /// <summary>Natural logarithm (~ <c>log</c>).</summary>
    public Tensor Log()
    {
        var x = Contiguous();
        var r = Empty(Shape);
        TensorPrimitives.Log(x.Span, r.Span);
        return r.WithGrad("Log", new[] { x }, g => Autograd.Accumulate(x, Div(g, x)));
    }

    /// <summary>Square root (~ <c>sqrt</c>).</summary>
    public Tensor Sqrt()
    {
        var x = Contiguous();
        var r = Empty(Shape);
        TensorPrimitives.Sqrt(x.Span, r.Span);
        return r.WithGrad("Sqrt", new[] { x }, g => Autograd.Accumulate(x, Div(g, r.MulScalar(2f))));
    }

    /// <summary>x^2 (~ <c>square</c>).</summary>
    public Tensor Square()
    {
        var x = Contiguous();
        var r = Empty(Shape);
        TensorPrimitives.Multiply(x.Span, x.Span, r.Span);
        return r.WithGrad("Square", new[] { x }, g => Autograd.Accumulate(x, Mul(g, x.MulScalar(2f))));
    }

    /// <summary>g where lo &lt; reference &lt; hi, else 0 (vectorised).</summary>
    private static Tensor MaskedBy(Tensor g, Tensor reference, float lo, float hi)
    {
        var d = Empty(reference.Shape);
        Kernels.Activation.PassInside(g.Contiguous().Span, reference.Span, lo, hi, d.Span);
        return d;
    }
}
