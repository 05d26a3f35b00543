using System.Numerics.Tensors;

namespace MtlPrune.Engine.Kernels;

/// <summary>Dense elementwise kernels over spans (vectorised through <see cref="TensorPrimitives"/>).</summary>
internal static class Elementwise
{
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst) => TensorPrimitives.Add(a, b, dst);
    public static void AddInPlace(Span<float> acc, ReadOnlySpan<float> x) => TensorPrimitives.Add(acc, x, acc);
}

/// <summary>The four broadcasting arithmetic operators.</summary>
internal enum BinaryKind { Add, Sub, Mul, Div }

/// <summary>Broadcasting binary arithmetic and its inverse, the reduction of a gradient to an input's shape.</summary>
internal static class Broadcast
{
    /// <summary>The NumPy broadcast of two shapes.</summary>
    public static int[] Shape(int[] a, int[] b, string op)
    {
        int r = Math.Max(a.Length, b.Length);
        var s = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Tensor.ShapeString(a)} and {Tensor.ShapeString(b)} cannot be broadcast together.");
            s[i] = da == 1 ? db : da;
        }
        return s;
    }

    /// <summary>Strides that read <paramref name="t"/> as if expanded to <paramref name="shape"/> (0 on broadcast dims).</summary>
    public static int[] ExpandedStrides(Tensor t, int[] shape)
    {
        var s = new int[shape.Length];
        int lead = shape.Length - t.Rank;
        for (int i = lead; i < shape.Length; i++) s[i] = t.Shape[i - lead] == 1 && shape[i] != 1 ? 0 : t.Strides[i - lead];
        return s;
    }

    /// <summary>out = a (op) b with broadcasting; <paramref name="dst"/> is dense with shape <paramref name="shape"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Binary(BinaryKind kind, Tensor a, Tensor b, int[] shape, Span<float> dst)
    {
        a.EnsureAlive(); b.EnsureAlive();
        if (a.IsContiguous && b.IsContiguous)
        {
            if (a.Numel == dst.Length && b.Numel == dst.Length) { Dense(kind, a.Span, b.Span, dst); return; }
            if (b.Numel == 1 && a.Numel == dst.Length) { ScalarRight(kind, a.Span, b.Storage[b.Offset], dst); return; }
            if (a.Numel == 1 && b.Numel == dst.Length) { ScalarLeft(kind, a.Storage[a.Offset], b.Span, dst); return; }
        }
        var sa = ExpandedStrides(a, shape);
        var sb = ExpandedStrides(b, shape);
        int rank = shape.Length;
        int inner = rank == 0 ? 1 : shape[rank - 1];
        int ia = rank == 0 ? 0 : sa[rank - 1], ib = rank == 0 ? 0 : sb[rank - 1];
        int rows = inner == 0 ? 0 : dst.Length / inner;
        var idx = new int[Math.Max(rank, 1)];
        int offA = a.Offset, offB = b.Offset;
        for (int row = 0, w = 0; row < rows; row++, w += inner)
        {
            var d = dst.Slice(w, inner);
            if (ia == 1 && ib == 1) Dense(kind, a.Storage.AsSpan(offA, inner), b.Storage.AsSpan(offB, inner), d);
            else if (ia == 1 && ib == 0) ScalarRight(kind, a.Storage.AsSpan(offA, inner), b.Storage[offB], d);
            else if (ia == 0 && ib == 1) ScalarLeft(kind, a.Storage[offA], b.Storage.AsSpan(offB, inner), d);
            else for (int i = 0; i < inner; i++) d[i] = Apply(kind, a.Storage[offA + i * ia], b.Storage[offB + i * ib]);
            for (int dd = rank - 2; dd >= 0; dd--)
            {
                idx[dd]++; offA += sa[dd]; offB += sb[dd];
                if (idx[dd] < shape[dd]) break;
                offA -= sa[dd] * shape[dd]; offB -= sb[dd] * shape[dd]; idx[dd] = 0;
            }
        }
    }

    private static float Apply(BinaryKind k, float x, float y) => k switch
    {
        BinaryKind.Add => x + y, BinaryKind.Sub => x - y, BinaryKind.Mul => x * y, _ => x / y,
    };

    private static void Dense(BinaryKind k, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d)
    {
        switch (k)
        {
            case BinaryKind.Add: TensorPrimitives.Add(a, b, d); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, d); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(a, b, d); break;
            default: TensorPrimitives.Divide(a, b, d); break;
        }
    }

    private static void ScalarRight(BinaryKind k, ReadOnlySpan<float> a, float b, Span<float> d)
    {
        switch (k)
        {
            case BinaryKind.Add: TensorPrimitives.Add(a, b, d); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, d); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(a, b, d); break;
            default: TensorPrimitives.Divide(a, b, d); break;
        }
    }

    private static void ScalarLeft(BinaryKind k, float a, ReadOnlySpan<float> b, Span<float> d)
    {
        switch (k)
        {
            case BinaryKind.Add: TensorPrimitives.Add(b, a, d); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, d); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(b, a, d); break;
            default: TensorPrimitives.Divide(a, b, d); break;
        }
    }

    /// <summary>
    /// Sums <paramref name="src"/> (shape <c>S</c>) down to <paramref name="target"/>, a shape that broadcasts to
    /// <c>S</c>: the reduction of a gradient to an input's shape, and the kernel behind <c>Sum(axes)</c>.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void SumTo(Tensor src, int[] target, Span<float> dst)
    {
        src.EnsureAlive();
        dst.Clear();
        var shape = src.Shape;
        int rank = shape.Length;
        if (src.Numel == 0) return;
        if (dst.Length == 1) { dst[0] = SumAll(src); return; }
        int lead = rank - target.Length;
        var so = new int[rank];
        var tStrides = Tensor.ContiguousStrides(target);
        for (int i = lead; i < rank; i++) so[i] = target[i - lead] == 1 && shape[i] != 1 ? 0 : tStrides[i - lead];
        var ss = src.Strides;
        int inner = rank == 0 ? 1 : shape[rank - 1];
        int is_ = ss[rank - 1], io = so[rank - 1];
        int rows = src.Numel / inner;
        var idx = new int[rank];
        int offS = src.Offset, offO = 0;
        var st = src.Storage;
        for (int row = 0; row < rows; row++)
        {
            if (is_ == 1 && io == 1) TensorPrimitives.Add(dst.Slice(offO, inner), st.AsSpan(offS, inner), dst.Slice(offO, inner));
            else if (is_ == 1 && io == 0) dst[offO] += TensorPrimitives.Sum(st.AsSpan(offS, inner));
            else for (int i = 0; i < inner; i++) dst[offO + i * io] += st[offS + i * is_];
            for (int d = rank - 2; d >= 0; d--)
            {
                idx[d]++; offS += ss[d]; offO += so[d];
                if (idx[d] < shape[d]) break;
                offS -= ss[d] * shape[d]; offO -= so[d] * shape[d]; idx[d] = 0;
            }
        }
    }

    /// <summary>Sum of all elements, accumulated in double for accuracy.</summary>
    public static float SumAll(Tensor t)
    {
        var c = t.Contiguous().Span;
        double s = 0;
        const int block = 4096;
        for (int i = 0; i < c.Length; i += block)
            s += TensorPrimitives.Sum(c.Slice(i, Math.Min(block, c.Length - i)));
        return (float)s;
    }
}
