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

    /// <summary>An incoming gradient as the batch-norm backward reads it: plain, or through a ReLU's mask.</summary>
    public interface IGrad
    {
        Vector512<float> Vec(int i);
        float At(int i);
    }

    /// <summary>The gradient as stored.</summary>
    public readonly unsafe struct PlainGrad(float* g) : IGrad
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Vec(int i) => Vector512.Load(g + i);
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public float At(int i) => g[i];
    }

    /// <summary>
    /// The gradient of relu(y): g where 0 &lt; y &lt; ∞, else 0 (PyTorch's convention at 0), read on the fly, so the
    /// fused batch norm + ReLU needs no masked copy of the gradient (the same values as <see cref="Activation.PassInside"/>).
    /// </summary>
    public readonly unsafe struct ReluGrad(float* g, float* y) : IGrad
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Vec(int i)
        {
            var r = Vector512.Load(y + i);
            var m = Vector512.GreaterThan(r, Vector512<float>.Zero) & Vector512.LessThan(r, Vector512.Create(float.PositiveInfinity));
            return Vector512.Load(g + i) & m;
        }
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public float At(int i) => y[i] > 0f && y[i] < float.PositiveInfinity ? g[i] : 0f;
    }

    /// <summary>(Σg, Σg·(x − mean)) over positions [start, start + n), in double.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static unsafe (double SumG, double SumGx) GradMoments<TGrad>(TGrad g, float* x, int start, int n, float mean) where TGrad : struct, IGrad
    {
        int i = start, end = start + n;
        double sg = 0, sgx = 0;
        if (Simd.Use512 && n >= 16)
        {
            var vm = Vector512.Create(mean);
            while (i <= end - 16)
            {
                var a = Vector512<float>.Zero; var b = Vector512<float>.Zero;
                int stop = Math.Min(end - 15, i + 4096);
                for (; i < stop; i += 16)
                {
                    var gv = g.Vec(i);
                    a += gv;
                    b = Vector512.FusedMultiplyAdd(gv, Vector512.Load(x + i) - vm, b);
                }
                sg += Vector512.Sum(a); sgx += Vector512.Sum(b);
            }
        }
        for (; i < end; i++) { float gi = g.At(i); sg += gi; sgx += (double)gi * (x[i] - mean); }
        return (sg, sgx);
    }

    /// <summary>dx = k·(g − k1 − (x − mean)·k2) over positions [start, start + n): the batch-norm input gradient.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static unsafe void BatchNormInputGrad<TGrad>(TGrad g, float* x, int start, int n, float mean, float k, float k1, float k2, float* dx) where TGrad : struct, IGrad
    {
        int i = start, end = start + n;
        if (Simd.Use512)
        {
            var vm = Vector512.Create(mean); var vk = Vector512.Create(k); var vk1 = Vector512.Create(k1); var vk2 = Vector512.Create(k2);
            for (; i <= end - 16; i += 16)
            {
                var t = g.Vec(i) - vk1 - (Vector512.Load(x + i) - vm) * vk2;
                (t * vk).Store(dx + i);
            }
        }
        for (; i < end; i++) dx[i] = k * (g.At(i) - k1 - (x[i] - mean) * k2);
    }
}
