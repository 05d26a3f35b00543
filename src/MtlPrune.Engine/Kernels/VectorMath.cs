using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Vectorised exp: x = n·ln2 + f with |f| ≤ ln2/2, e^f by a degree-6 polynomial, 2^n from the exponent bits.
/// Relative error below 3e-7 over the float range (inputs are clamped to [−87.3, 88.7], where e^x is a normal float).
/// </summary>
internal static class VectorMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(-87.3f)), Vector512.Create(88.7f));
        var n = Vector512.Floor(x * Vector512.Create(1.44269504088896341f) + Vector512.Create(0.5f));
        var f = x - n * Vector512.Create(0.693359375f) - n * Vector512.Create(-2.12194440e-4f);
        var p = Vector512.Create(1.9875691500e-4f);
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, f * f, f + Vector512<float>.One);
        // 2^n as 2^(n>>1)·2^(n−(n>>1)): both halves stay inside the exponent field for n in [−126, 128].
        var ni = Vector512.ConvertToInt32(n);
        var n1 = Vector512.ShiftRightArithmetic(ni, 1);
        var bias = Vector512.Create(127);
        var pow2a = Vector512.ShiftLeft(n1 + bias, 23).AsSingle();
        var pow2b = Vector512.ShiftLeft(ni - n1 + bias, 23).AsSingle();
        return p * pow2a * pow2b;
    }

    /// <summary>dst[i] = e^(x[i]).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Exp(ReadOnlySpan<float> x, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        if (Simd.Use512)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float rd = ref MemoryMarshal.GetReference(dst);
            for (; i <= n - 16; i += 16) Exp(Vector512.LoadUnsafe(ref rx, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        }
        for (; i < n; i++) dst[i] = MathF.Exp(Math.Clamp(x[i], -87.3f, 88.7f));
    }
}
