namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// A tensor with the same elements and a new shape (~ <c>reshape</c>). One dimension may be -1.
    /// Shares storage when this tensor is contiguous; copies otherwise.
    /// </summary>
    /// <exception cref="ArgumentException">The element counts differ.</exception>
    public Tensor Reshape(params int[] shape)
    {
        var s = InferShape(shape);
        var src = Contiguous();
        var r = new Tensor(src.Storage, src.Offset, s, ContiguousStrides(s));
        var inShape = Shape;
        return r.WithGrad("Reshape", new[] { src }, g => Autograd.Accumulate(src, g.Reshape(inShape)));
    }

    /// <summary>Alias of <see cref="Reshape"/> (~ <c>view</c>); it never fails on non-contiguous input but then copies.</summary>
    public Tensor View(params int[] shape) => Reshape(shape);

    /// <summary>Flattens dimensions from <paramref name="startDim"/> on (~ <c>flatten</c>).</summary>
    public Tensor Flatten(int startDim = 1)
    {
        startDim = NormalizeDim(startDim, Rank);
        var s = new int[startDim + 1];
        Array.Copy(Shape, s, startDim);
        s[startDim] = -1;
        return Reshape(s);
    }

    private int[] InferShape(int[] shape)
    {
        var s = (int[])shape.Clone();
        int neg = -1; long known = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1) { if (neg >= 0) throw new ArgumentException($"Reshape: more than one -1 in {ShapeString(shape)}."); neg = i; }
            else if (s[i] < 0) throw new ArgumentException($"Reshape: negative dimension in {ShapeString(shape)}.");
            else known *= s[i];
        }
        if (neg >= 0)
        {
            if (known == 0 || Numel % known != 0) throw new ArgumentException($"Reshape: cannot view shape {ShapeString(Shape)} as {ShapeString(shape)}.");
            s[neg] = (int)(Numel / known);
        }
        else if (known != Numel) throw new ArgumentException($"Reshape: cannot view shape {ShapeString(Shape)} ({Numel} elements) as {ShapeString(shape)} ({known} elements).");
        return s;
    }

    /// <summary>A dense copy when this is a strided view, otherwise this tensor itself (~ <c>contiguous</c>).</summary>
    public Tensor Contiguous()
    {
        EnsureAlive();
        if (IsContiguous) return this;
        var r = Empty(Shape);
        CopyInto(r.Span);
        var src = this;
        return r.WithGrad("Contiguous", new[] { src }, g => Autograd.Accumulate(src, g));
    }

    /// <summary>Reorders dimensions; a view that shares storage (~ <c>permute</c>).</summary>
    /// <exception cref="ArgumentException"><paramref name="dims"/> is not a permutation of the dimensions.</exception>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank) throw new ArgumentException($"Permute: {dims.Length} dims given for a tensor of shape {ShapeString(Shape)}.");
        var seen = new bool[Rank];
        var shape = new int[Rank]; var strides = new int[Rank]; var inverse = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int d = NormalizeDim(dims[i], Rank);
            if (seen[d]) throw new ArgumentException($"Permute: dimension {d} repeated in {ShapeString(dims)}.");
            seen[d] = true;
            shape[i] = Shape[d]; strides[i] = Strides[d]; inverse[d] = i;
        }
        var src = this;
        var r = new Tensor(Storage, Offset, shape, strides);
        return r.WithGrad("Permute", new[] { src }, g => Autograd.Accumulate(src, g.Permute(inverse).Contiguous()));
    }

    /// <summary>Swaps two dimensions (~ <c>transpose</c>).</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        var p = Enumerable.Range(0, Rank).ToArray();
        dim0 = NormalizeDim(dim0, Rank); dim1 = NormalizeDim(dim1, Rank);
        (p[dim0], p[dim1]) = (p[dim1], p[dim0]);
        return Permute(p);
    }

    /// <summary>
    /// Elements <paramref name="start"/> .. <paramref name="start"/>+<paramref name="length"/>-1 along
    /// <paramref name="dim"/>; a view (~ <c>narrow</c>).
    /// </summary>
    public Tensor Slice(int dim, int start, int length)
    {
        dim = NormalizeDim(dim, Rank);
        if (start < 0 || length < 0 || start + length > Shape[dim])
            throw new ArgumentOutOfRangeException(nameof(start), $"Slice [{start}, {start + length}) out of range for dimension {dim} of shape {ShapeString(Shape)}.");
        var shape = (int[])Shape.Clone(); shape[dim] = length;
        var src = this;
        var r = new Tensor(Storage, Offset + start * Strides[dim], shape, (int[])Strides.Clone());
        return r.WithGrad("Slice", new[] { src }, g =>
        {
            var full = Zeros(src.Shape);
            var view = new Tensor(full.Storage, start * full.Strides[dim], g.Shape, full.Strides);
            view.CopyFrom(g);
            Autograd.Accumulate(src, full);
        });
    }

    /// <summary>Joins tensors along <paramref name="dim"/> (~ <c>torch.cat</c>).</summary>
    /// <exception cref="ArgumentException">The tensors differ in any other dimension.</exception>
    public static Tensor Concat(IReadOnlyList<Tensor> xs, int dim)
    {
        if (xs.Count == 0) throw new ArgumentException("Concat needs at least one tensor.");
        var first = xs[0];
        dim = NormalizeDim(dim, first.Rank);
        var shape = (int[])first.Shape.Clone();
        shape[dim] = 0;
        foreach (var x in xs)
        {
            if (x.Rank != first.Rank) throw new ArgumentException($"Concat: shapes {ShapeString(first.Shape)} and {ShapeString(x.Shape)} differ in rank.");
            for (int d = 0; d < x.Rank; d++)
                if (d != dim && x.Shape[d] != first.Shape[d])
                    throw new ArgumentException($"Concat along dim {dim}: shapes {ShapeString(first.Shape)} and {ShapeString(x.Shape)} differ in dimension {d}.");
            shape[dim] += x.Shape[dim];
        }
        var r = Empty(shape);
        int outer = 1; for (int d = 0; d < dim; d++) outer *= shape[d];
        int inner = 1; for (int d = dim + 1; d < shape.Length; d++) inner *= shape[d];
        int rowOut = shape[dim] * inner, pos = 0;
        foreach (var x in xs)
        {
            var xs_ = x.Contiguous().Span;
            int row = x.Shape[dim] * inner;
            for (int o = 0; o < outer; o++) xs_.Slice(o * row, row).CopyTo(r.Span.Slice(o * rowOut + pos, row));
            pos += row;
        }
        var inputs = xs.ToArray();
        return r.WithGrad("Concat", inputs, g =>
        {
            int start = 0;
            foreach (var x in inputs)
            {
                int len = x.Shape[dim];
                if (x.RequiresGrad) Autograd.Accumulate(x, g.Slice(dim, start, len).Contiguous());
                start += len;
            }
        });
    }

    /// <summary>Broadcasts to a larger shape without copying, following NumPy rules (~ <c>expand</c>).</summary>
    /// <exception cref="ArgumentException">The shapes are not broadcast-compatible.</exception>
    public Tensor BroadcastTo(int[] shape)
    {
        if (Autograd.SameShape(Shape, shape)) return this;
        if (shape.Length < Rank) throw new ArgumentException($"Cannot broadcast shape {ShapeString(Shape)} to {ShapeString(shape)}.");
        var strides = new int[shape.Length];
        int lead = shape.Length - Rank;
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead) { strides[i] = 0; continue; }
            int d = Shape[i - lead];
            if (d == shape[i]) strides[i] = Strides[i - lead];
            else if (d == 1) strides[i] = 0;
            else throw new ArgumentException($"Cannot broadcast shape {ShapeString(Shape)} to {ShapeString(shape)}.");
        }
        var src = this;
        var r = new Tensor(Storage, Offset, (int[])shape.Clone(), strides);
        return r.WithGrad("BroadcastTo", new[] { src }, g => Autograd.Accumulate(src, g.SumToShape(src.Shape)));
    }
}
