using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>Elementwise a + b with NumPy broadcasting (~ <c>torch.add</c>).</summary>
    /// <exception cref="ArgumentException">The shapes cannot be broadcast; the message names both.</exception>
    public static Tensor Add(Tensor a, Tensor b) => Binary(BinaryKind.Add, a, b);
    /// <summary>Elementwise a - b with broadcasting (~ <c>torch.sub</c>).</summary>
    public static Tensor Sub(Tensor a, Tensor b) => Binary(BinaryKind.Sub, a, b);
    /// <summary>Elementwise a * b with broadcasting (~ <c>torch.mul</c>).</summary>
    public static Tensor Mul(Tensor a, Tensor b) => Binary(BinaryKind.Mul, a, b);
    /// <summary>Elementwise a / b with broadcasting (~ <c>torch.div</c>).</summary>
    public static Tensor Div(Tensor a, Tensor b) => Binary(BinaryKind.Div, a, b);

    public static Tensor operator +(Tensor a, Tensor b) => Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => Div(a, b);
    public static Tensor operator +(Tensor a, float s) => a.AddScalar(s);
    public static Tensor operator -(Tensor a, float s) => a.AddScalar(-s);
    public static Tensor operator *(Tensor a, float s) => a.MulScalar(s);
    public static Tensor operator *(float s, Tensor a) => a.MulScalar(s);
    public static Tensor operator /(Tensor a, float s) => a.MulScalar(1f / s);
    public static Tensor operator -(Tensor a) => a.MulScalar(-1f);

    private static Tensor Binary(BinaryKind kind, Tensor a, Tensor b)
    {
        var shape = Broadcast.Shape(a.Shape, b.Shape, kind.ToString());
        var r = Empty(shape);
        Broadcast.Binary(kind, a, b, shape, r.Span);
        return r.WithGrad(kind.ToString(), new[] { a, b }, g =>
        {
            switch (kind)
            {
                case BinaryKind.Add:
                    if (a.RequiresGrad) Autograd.Accumulate(a, g.SumToShape(a.Shape));
                    if (b.RequiresGrad) Autograd.Accumulate(b, g.SumToShape(b.Shape));
                    break;
                case BinaryKind.Sub:
                    if (a.RequiresGrad) Autograd.Accumulate(a, g.SumToShape(a.Shape));
                    if (b.RequiresGrad) Autograd.Accumulate(b, g.MulScalar(-1f).SumToShape(b.Shape));
                    break;
                case BinaryKind.Mul:
                    if (a.RequiresGrad) Autograd.Accumulate(a, Mul(g, b).SumToShape(a.Shape));
                    if (b.RequiresGrad) Autograd.Accumulate(b, Mul(g, a).SumToShape(b.Shape));
                    break;
                default:
                    if (a.RequiresGrad) Autograd.Accumulate(a, Div(g, b).SumToShape(a.Shape));
                    if (b.RequiresGrad) Autograd.Accumulate(b, Mul(g, Div(r, b)).MulScalar(-1f).SumToShape(b.Shape));
                    break;
            }
        });
    }

    /// <summary>x + s for a scalar s.</summary>
    public Tensor AddScalar(float s)
    {
        var src = Contiguous();
        var r = Empty(Shape);
        System.Numerics.Tensors.TensorPrimitives.Add(src.Span, s, r.Span);
        return r.WithGrad("AddScalar", new[] { src }, g => Autograd.Accumulate(src, g));
    }

    /// <summary>x * s for a scalar s.</summary>
    public Tensor MulScalar(float s)
    {
        var src = Contiguous();
        var r = Empty(Shape);
        System.Numerics.Tensors.TensorPrimitives.Multiply(src.Span, s, r.Span);
        return r.WithGrad("MulScalar", new[] { src }, g => Autograd.Accumulate(src, g.MulScalar(s)));
    }

    /// <summary>Sums a broadcast result back to <paramref name="shape"/>, the reduction of broadcasting.</summary>
    public Tensor SumToShape(int[] shape)
    {
        if (Autograd.SameShape(Shape, shape)) return this;
        Broadcast.Shape(shape, Shape, "SumToShape");
        var r = Empty(shape);
        Broadcast.SumTo(this, shape, r.Span);
        var src = this;
        return r.WithGrad("SumToShape", new[] { src }, g => Autograd.Accumulate(src, g.BroadcastTo(src.Shape).Contiguous()));
    }
}
