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
    /// Labels are integral floats already checked to lie in [0, C) or equal the ignore index. Images run across cores;
    /// each image's sums are added in image order, so the result does not depend on the scheduling.
    /// </summary>
    public static unsafe (double Num, double Den) Forward(ReadOnlySpan<float> x, int n, int c, int s, ReadOnlySpan<float> labels, int ignore, float[]? w, Span<float> lse)
    {
        var sums = new double[2 * n];
        fixed (float* px = x) fixed (float* pl = labels) fixed (float* pe = lse) fixed (double* ps = sums)
        {
            var body = new ForwardBody { X = px, Labels = pl, Lse = pe, Sums = ps, C = c, S = s, Ignore = ignore, W = w };
            WorkerPool.For(n, ref body);
        }
        double num = 0, den = 0;
        for (int img = 0; img < n; img++) { num += sums[2 * img]; den += sums[2 * img + 1]; }
        return (num, den);
    }

    private unsafe struct ForwardBody : IParallelBody
    {
        public float* X, Labels, Lse; public double* Sums; public int C, S, Ignore; public float[]? W;
        public void Run(int img)
        {
            var xi = new ReadOnlySpan<float>(X + (long)img * C * S, C * S);
            var li = new Span<float>(Lse + (long)img * S, S);
            LogSumExp(xi, C, S, li);
            double num = 0, den = 0;
            for (int j = 0; j < S; j++)
            {
                int y = (int)Labels[(long)img * S + j];
                if (y == Ignore) continue;
                double wy = W is null ? 1.0 : W[y];
                num += wy * (li[j] - xi[y * S + j]);
                den += wy;
            }
            Sums[2 * img] = num; Sums[2 * img + 1] = den;
        }
    }

    /// <summary>lse[j] = log Σ_c e^(x[c, j]), as m + log Σ e^(x − m) with m the pixel's largest logit: exps and logs vectorised across pixels.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void LogSumExp(ReadOnlySpan<float> x, int c, int s, Span<float> lse)
    {
        var sum = BufferPool.Rent(s);
        var ss = sum.AsSpan(0, s);
        int j = 0;
        if (Simd.Use512)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float rl = ref MemoryMarshal.GetReference(lse);
            ref float rs = ref MemoryMarshal.GetReference(ss);
            for (; j <= s - 16; j += 16)
            {
                var m = Vector512.LoadUnsafe(ref rx, (nuint)j);
                for (int ch = 1; ch < c; ch++) m = Vector512.Max(m, Vector512.LoadUnsafe(ref rx, (nuint)(ch * s + j)));
                var acc = Vector512<float>.Zero;
                for (int ch = 0; ch < c; ch++) acc += VectorMath.Exp(Vector512.LoadUnsafe(ref rx, (nuint)(ch * s + j)) - m);
                m.StoreUnsafe(ref rl, (nuint)j);
                acc.StoreUnsafe(ref rs, (nuint)j);
            }
        }
        for (; j < s; j++)
        {
            float m = x[j];
            for (int ch = 1; ch < c; ch++) m = Math.Max(m, x[ch * s + j]);
            float acc = 0;
            for (int ch = 0; ch < c; ch++) acc += MathF.Exp(x[ch * s + j] - m);
            lse[j] = m; ss[j] = acc;
        }
        System.Numerics.Tensors.TensorPrimitives.Log(ss, ss);
        System.Numerics.Tensors.TensorPrimitives.Add(lse, ss, lse);
        BufferPool.Return(sum);
    }

    /// <summary>gx[c, j] = scale·w[y_j]·(e^(x − lse) − [c = y_j]) for labelled pixels, 0 for ignored ones; images across cores.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> x, int n, int c, int s, ReadOnlySpan<float> labels, int ignore, float[]? w, ReadOnlySpan<float> lse, float scale, Span<float> gx)
    {
        fixed (float* px = x) fixed (float* pl = labels) fixed (float* pe = lse) fixed (float* pg = gx)
        {
            var body = new BackwardBody { X = px, Labels = pl, Lse = pe, Gx = pg, C = c, S = s, Ignore = ignore, W = w, Scale = scale };
            WorkerPool.For(n, ref body);
        }
    }

    private unsafe struct BackwardBody : IParallelBody
    {
        public float* X, Labels, Lse, Gx; public int C, S, Ignore; public float[]? W; public float Scale;
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Run(int img)
        {
            var pw = BufferPool.Rent(S);
            for (int j = 0; j < S; j++)
            {
                int y = (int)Labels[(long)img * S + j];
                pw[j] = y == Ignore ? 0f : Scale * (W is null ? 1f : W[y]);
            }
            var li = new ReadOnlySpan<float>(Lse + (long)img * S, S);
            for (int ch = 0; ch < C; ch++)
            {
                var src = new ReadOnlySpan<float>(X + ((long)img * C + ch) * S, S);
                var dst = new Span<float>(Gx + ((long)img * C + ch) * S, S);
                System.Numerics.Tensors.TensorPrimitives.Subtract(src, li, dst);
                VectorMath.Exp(dst, dst);
                System.Numerics.Tensors.TensorPrimitives.Multiply(dst, pw.AsSpan(0, S), dst);
            }
            for (int j = 0; j < S; j++)
            {
                int y = (int)Labels[(long)img * S + j];
                if (y != Ignore) Gx[((long)img * C + y) * S + j] -= pw[j];
            }
            BufferPool.Return(pw);
        }
    }
}
