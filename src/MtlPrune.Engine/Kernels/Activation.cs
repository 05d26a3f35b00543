using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>Vectorised helpers for activation gradients.</summary>
internal static class Activation
{
    /// <summary>dst[i] = lo &lt; r[i] &lt; hi ? g[i] : 0, large tensors across cores (<see cref="ParallelRanges"/>).</summary>
    public static unsafe void PassInside(ReadOnlySpan<float> g, ReadOnlySpan<float> r, float lo, float hi, Span<float> dst)
    {
        fixed (float* pg = g) fixed (float* pr = r) fixed (float* pd = dst)
        {
            var body = new PassBody { G = pg, R = pr, D = pd, Lo = lo, Hi = hi };
            ParallelRanges.For(dst.Length, ref body);
        }
    }

    private unsafe struct PassBody : IRangeBody
    {
        public float* G, R, D; public float Lo, Hi;
        public void Run(int start, int count) =>
            PassInsideRange(new ReadOnlySpan<float>(G + start, count), new ReadOnlySpan<float>(R + start, count), Lo, Hi, new Span<float>(D + start, count));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void PassInsideRange(ReadOnlySpan<float> g, ReadOnlySpan<float> r, float lo, float hi, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        if (Simd.Use512)
        {
            var vlo = Vector512.Create(lo); var vhi = Vector512.Create(hi);
            ref float gr = ref MemoryMarshal.GetReference(g);
            ref float rr = ref MemoryMarshal.GetReference(r);
            ref float dr = ref MemoryMarshal.GetReference(dst);
            for (; i <= n - 16; i += 16)
            {
                var rv = Vector512.LoadUnsafe(ref rr, (nuint)i);
                var m = Vector512.GreaterThan(rv, vlo) & Vector512.LessThan(rv, vhi);
                (Vector512.LoadUnsafe(ref gr, (nuint)i) & m.AsSingle()).StoreUnsafe(ref dr, (nuint)i);
            }
        }
        for (; i < n; i++) dst[i] = r[i] > lo && r[i] < hi ? g[i] : 0f;
    }
}

/// <summary>dst = x·scale + shift, vectorised.</summary>
internal static class Affine
{
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Apply(ReadOnlySpan<float> x, float scale, float shift, Span<float> dst, bool relu = false)
    {
        int n = dst.Length, i = 0;
        if (Simd.Use512)
        {
            var vs = Vector512.Create(scale); var vb = Vector512.Create(shift);
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float dr = ref MemoryMarshal.GetReference(dst);
            if (relu)
                for (; i <= n - 16; i += 16)
                    Vector512.Max(Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), vs, vb), Vector512<float>.Zero).StoreUnsafe(ref dr, (nuint)i);
            else
                for (; i <= n - 16; i += 16)
                    Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), vs, vb).StoreUnsafe(ref dr, (nuint)i);
        }
        for (; i < n; i++)
        {
            float v = MathF.FusedMultiplyAdd(x[i], scale, shift);
            dst[i] = relu ? MathF.Max(v, 0f) : v;
        }
    }
}
