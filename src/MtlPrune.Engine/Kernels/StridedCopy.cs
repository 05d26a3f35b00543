namespace MtlPrune.Engine.Kernels;

/// <summary>Copies between strided views and dense buffers, innermost dimension as a tight loop.</summary>
internal static class StridedCopy
{
    /// <summary>Gathers the elements of a (possibly strided) tensor into <paramref name="dst"/> in row-major order.</summary>
    public static void Copy(Tensor src, Span<float> dst) =>
        Gather(src.Storage, src.Offset, src.Shape, src.Strides, dst);

    /// <summary>Gathers elements described by shape and strides from <paramref name="storage"/> into <paramref name="dst"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Gather(float[] storage, int offset, int[] shape, int[] strides, Span<float> dst)
    {
        int rank = shape.Length;
        if (rank == 0) { if (dst.Length > 0) dst[0] = storage[offset]; return; }
        int n = dst.Length;
        if (n == 0) return;
        int inner = shape[rank - 1], innerStride = strides[rank - 1];
        int outer = n / Math.Max(inner, 1);
        var idx = new int[rank];
        int off = offset, w = 0;
        for (int o = 0; o < outer; o++)
        {
            if (innerStride == 1) storage.AsSpan(off, inner).CopyTo(dst.Slice(w, inner));
            else if (innerStride == 0) dst.Slice(w, inner).Fill(storage[off]);
            else for (int i = 0, p = off; i < inner; i++, p += innerStride) dst[w + i] = storage[p];
            w += inner;
            for (int d = rank - 2; d >= 0; d--)
            {
                idx[d]++;
                off += strides[d];
                if (idx[d] < shape[d]) break;
                off -= strides[d] * shape[d];
                idx[d] = 0;
            }
        }
    }
}
