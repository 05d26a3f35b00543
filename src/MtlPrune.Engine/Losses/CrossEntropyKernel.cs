using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Fused pixel-wise cross-entropy over logits [N, C, S]: one pass computes the log-sum-exp of every pixel (vectorised
/// across pixels) and the weighted loss; the backward pass writes w·(softmax − onehot) directly.
/// </summary>
internal static class CrossEntropyKernel
{
    /// <summary>
    /// Fills lse[N·S] and returns Σ w[y]·(lse − x_y) and Σ w[y] over labelled pixels (label ≠ <paramref name="ignore"/>).
    /// Labels are integral floats already checked to lie in [0, C) or equal the ignore index.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static (double Num, double Den) Forward(ReadOnlySpan<float> x, int n, int c, int s, ReadOnlySpan<float> labels, int ignore, float[]? w, Span<float> lse)
    {
        double num = 0, den = 0;
        for (int img = 0; img < n; img++)
        {
            var xi = x.Slice(img * c * s, c * s);
            var li = lse.Slice(img * s, s);
            LogSumExp(xi, c, s, li);
            for (int j = 0; j < s; j++)
            {
                int y = (int)labels[img * s + j];
                if (y == ignore) continue;
                double wy = w is null ? 1.0 : w[y];
                num += wy * (li[j] - xi[y * s + j]);
                den += wy;
            }
        }
        return (num, den);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void LogSumExp(ReadOnlySpan<float> x, int c, int s, Span<float> lse)
    {
        int j = 0;
        if (Simd.Use512)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float rl = ref MemoryMarshal.GetReference(lse);
            for (; j <= s - 16; j += 16)
            {
                var m = Vector512.LoadUnsafe(ref rx, (nuint)j);
                for (int ch = 1; ch < c; ch++) m = Vector512.Max(m, Vector512.LoadUnsafe(ref rx, (nuint)(ch * s + j)));
                var sum = Vector512<float>.Zero;
                for (int ch = 0; ch < c; ch++) sum += VectorMath.Exp(Vector512.LoadUnsafe(ref rx, (nuint)(ch * s + j)) - m);
                // One log per pixel (the exps above dominate).
                for (int u = 0; u < 16; u++) System.Runtime.CompilerServices.Unsafe.Add(ref rl, j + u) = MathF.Log(sum.GetElement(u)) + m.GetElement(u);
            }
        }
        for (; j < s; j++)
        {
            float m = x[j];
            for (int ch = 1; ch < c; ch++) m = Math.Max(m, x[ch * s + j]);
            float sum = 0;
            for (int ch = 0; ch < c; ch++) sum += MathF.Exp(x[ch * s + j] - m);
            lse[j] = MathF.Log(sum) + m;
        }
    }

    /// <summary>gx[c, j] = scale·w[y_j]·(e^(x − lse) − [c = y_j]) for labelled pixels, 0 for ignored ones.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Backward(ReadOnlySpan<float> x, int n, int c, int s, ReadOnlySpan<float> labels, int ignore, float[]? w, ReadOnlySpan<float> lse, float scale, Span<float> gx)
    {
        var pw = BufferPool.Rent(s);
        for (int img = 0; img < n; img++)
        {
            for (int j = 0; j < s; j++)
            {
                int y = (int)labels[img * s + j];
                pw[j] = y == ignore ? 0f : scale * (w is null ? 1f : w[y]);
            }
            var li = lse.Slice(img * s, s);
            for (int ch = 0; ch < c; ch++)
            {
                var src = x.Slice((img * c + ch) * s, s);
                var dst = gx.Slice((img * c + ch) * s, s);
                System.Numerics.Tensors.TensorPrimitives.Subtract(src, li, dst);
                VectorMath.Exp(dst, dst);
                System.Numerics.Tensors.TensorPrimitives.Multiply(dst, pw.AsSpan(0, s), dst);
            }
            for (int j = 0; j < s; j++)
            {
                int y = (int)labels[img * s + j];
                if (y != ignore) gx[(img * c + y) * s + j] -= pw[j];
            }
        }
        BufferPool.Return(pw);
    }
}
