using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>Vectorised per-plane reductions for batch normalisation.</summary>
internal static class Statistics
{
    /// <summary>(Σ(x − shift), Σ(x − shift)²) over a span, in double; shifting keeps the variance accurate.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static (double Sum, double SumSq) ShiftedMoments(ReadOnlySpan<float> x, float shift)
    {
        int n = x.Length, i = 0;
        double sum = 0, sq = 0;
        if (Simd.Use512 && n >= 16)
        {
            ref float r = ref MemoryMarshal.GetReference(x);
            var vs = Vector512.Create(shift);
            var s0 = Vector512<float>.Zero; var q0 = Vector512<float>.Zero;
            var s1 = Vector512<float>.Zero; var q1 = Vector512<float>.Zero;
            // Blocks of at most 4096 elements in float, then folded into double.
            while (i <= n - 16)
            {
                int end = Math.Min(n - 15, i + 4096);
                for (; i + 16 < end; i += 32)
                {
                    var d0 = Vector512.LoadUnsafe(ref r, (nuint)i) - vs;
                    var d1 = Vector512.LoadUnsafe(ref r, (nuint)(i + 16)) - vs;
                    s0 += d0; q0 = Vector512.FusedMultiplyAdd(d0, d0, q0);
                    s1 += d1; q1 = Vector512.FusedMultiplyAdd(d1, d1, q1);
                }
                for (; i < end; i += 16)
                {
                    var d0 = Vector512.LoadUnsafe(ref r, (nuint)i) - vs;
                    s0 += d0; q0 = Vector512.FusedMultiplyAdd(d0, d0, q0);
                }
                sum += Vector512.Sum(s0 + s1); sq += Vector512.Sum(q0 + q1);
                s0 = s1 = q0 = q1 = Vector512<float>.Zero;
            }
        }
        for (; i < n; i++) { double d = x[i] - shift; sum += d; sq += d * d; }
        return (sum, sq);
    }

    /// <summary>(Σg, Σg·(x − mean)) over a span, in double.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static (double SumG, double SumGx) GradMoments(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float mean)
    {
        int n = g.Length, i = 0;
        double sg = 0, sgx = 0;
        if (Simd.Use512 && n >= 16)
        {
            ref float rg = ref MemoryMarshal.GetReference(g);
            ref float rx = ref MemoryMarshal.GetReference(x);
            var vm = Vector512.Create(mean);
            while (i <= n - 16)
            {
                var a = Vector512<float>.Zero; var b = Vector512<float>.Zero;
                int end = Math.Min(n - 15, i + 4096);
                for (; i < end; i += 16)
                {
                    var gv = Vector512.LoadUnsafe(ref rg, (nuint)i);
                    a += gv;
                    b = Vector512.FusedMultiplyAdd(gv, Vector512.LoadUnsafe(ref rx, (nuint)i) - vm, b);
                }
                sg += Vector512.Sum(a); sgx += Vector512.Sum(b);
            }
        }
        for (; i < n; i++) { sg += g[i]; sgx += (double)g[i] * (x[i] - mean); }
        return (sg, sgx);
    }

    /// <summary>dx = k·(g − k1 − (x − mean)·k2), the batch-norm input gradient in training mode.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void BatchNormInputGrad(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float mean, float k, float k1, float k2, Span<float> dx)
    {
        int n = dx.Length, i = 0;
        if (Simd.Use512)
        {
            ref float rg = ref MemoryMarshal.GetReference(g);
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float rd = ref MemoryMarshal.GetReference(dx);
            var vm = Vector512.Create(mean); var vk = Vector512.Create(k); var vk1 = Vector512.Create(k1); var vk2 = Vector512.Create(k2);
            for (; i <= n - 16; i += 16)
            {
                var t = Vector512.LoadUnsafe(ref rg, (nuint)i) - vk1 - (Vector512.LoadUnsafe(ref rx, (nuint)i) - vm) * vk2;
                (t * vk).StoreUnsafe(ref rd, (nuint)i);
            }
        }
        for (; i < n; i++) dx[i] = k * (g[i] - k1 - (x[i] - mean) * k2);
    }
}
