namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>A tensor of zeros (~ <c>torch.zeros</c>).</summary>
    public static Tensor Zeros(params int[] shape) => Full(shape, 0f);

    /// <summary>A tensor of ones (~ <c>torch.ones</c>).</summary>
    public static Tensor Ones(params int[] shape) => Full(shape, 1f);

    /// <summary>A tensor filled with <paramref name="value"/> (~ <c>torch.full</c>).</summary>
    public static Tensor Full(int[] shape, float value)
    {
        var t = Empty(shape);
        t.Span.Fill(value);
        return t;
    }

    /// <summary>A one-element tensor of shape [] (~ <c>torch.tensor(v)</c>).</summary>
    public static Tensor Scalar(float value) => FromArray(new[] { value }, Array.Empty<int>());

    /// <summary>Wraps a copy of <paramref name="data"/> with the given shape (~ <c>torch.tensor</c>).</summary>
    /// <exception cref="ArgumentException">The data length differs from the shape's element count.</exception>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        var t = Empty(shape);
        if (data.Length != t.Numel)
            throw new ArgumentException($"{data.Length} values cannot fill shape {ShapeString(shape)} ({t.Numel} elements).");
        data.CopyTo(t.Storage, 0);
        return t;
    }

    /// <summary>Converts from double values (handy in tests).</summary>
    public static Tensor FromArray(double[] data, params int[] shape) => FromArray(Array.ConvertAll(data, v => (float)v), shape);

    /// <summary>Samples N(mean, std^2) from a seeded generator (~ <c>torch.randn</c> * std + mean).</summary>
    public static Tensor Normal(int[] shape, Rng rng, float mean = 0f, float std = 1f)
    {
        var t = Empty(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (float)(mean + std * rng.NextNormal());
        return t;
    }

    /// <summary>Samples U[low, high) from a seeded generator (~ <c>torch.rand</c> scaled).</summary>
    public static Tensor Uniform(int[] shape, Rng rng, float low = 0f, float high = 1f)
    {
        var t = Empty(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (float)(low + (high - low) * rng.NextDouble());
        return t;
    }

    /// <summary>A tensor of this one's shape filled with zeros (~ <c>zeros_like</c>).</summary>
    public static Tensor ZerosLike(Tensor t) => Zeros(t.Shape);

    /// <summary>A contiguous copy with no autograd history.</summary>
    public Tensor CloneData()
    {
        var r = Empty(Shape);
        CopyInto(r.Span);
        r.FileDType = FileDType;
        return r;
    }

    /// <summary>Copies the elements, in row-major order, into a destination span.</summary>
    internal void CopyInto(Span<float> dst)
    {
        EnsureAlive();
        if (IsContiguous) { Storage.AsSpan(Offset, Numel).CopyTo(dst); return; }
        Kernels.StridedCopy.Copy(this, dst);
    }

    /// <summary>Overwrites this tensor's elements with <paramref name="src"/>'s (~ <c>copy_</c>, no autograd).</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public void CopyFrom(Tensor src)
    {
        EnsureAlive(); src.EnsureAlive();
        if (!Autograd.SameShape(Shape, src.Shape))
            throw new ArgumentException($"CopyFrom: source shape {ShapeString(src.Shape)} differs from destination shape {ShapeString(Shape)}.");
        if (IsContiguous) { src.CopyInto(Span); return; }
        var tmp = src.ToArray();
        int i = 0;
        foreach (var off in Offsets()) Storage[off] = tmp[i++];
    }

    /// <summary>Fills the tensor in place (~ <c>fill_</c>, no autograd).</summary>
    public Tensor Fill_(float value)
    {
        EnsureAlive();
        if (IsContiguous) Span.Fill(value);
        else foreach (var off in Offsets()) Storage[off] = value;
        return this;
    }
}
