using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MtlPrune.Engine.Inference;

/// <summary>The end of a layer in one pass over a row: y = act(x + bias + residual), residual optional; y may be x.</summary>
internal static unsafe class Epilogue
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* x, float* residual, float bias, Activation act, float* y, int n)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var b = Vector512.Create(bias); var zero = Vector512<float>.Zero; var six = Vector512.Create(6f);
            for (; j + 16 <= n; j += 16)
            {
                var v = Vector512.Load(x + j) + b;
                if (residual != null) v += Vector512.Load(residual + j);
                if (act != Activation.None) v = Vector512.Max(v, zero);
                if (act == Activation.Relu6) v = Vector512.Min(v, six);
                v.Store(y + j);
            }
            if (j < n && Avx512F.IsSupported)
            {
                // The tail under a mask: a row of 130 is 8 vectors and 2 floats, and rows end anywhere in a sparse tile.
                var m = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n - j)).AsSingle();
                var v = Avx512F.MaskLoad(x + j, m, zero) + b;
                if (residual != null) v += Avx512F.MaskLoad(residual + j, m, zero);
                if (act != Activation.None) v = Vector512.Max(v, zero);
                if (act == Activation.Relu6) v = Vector512.Min(v, six);
                Avx512F.MaskStore(y + j, m, v);
                return;
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var b = Vector256.Create(bias); var zero = Vector256<float>.Zero; var six = Vector256.Create(6f);
            for (; j + 8 <= n; j += 8)
            {
                var v = Vector256.Load(x + j) + b;
                if (residual != null) v += Vector256.Load(residual + j);
                if (act != Activation.None) v = Vector256.Max(v, zero);
                if (act == Activation.Relu6) v = Vector256.Min(v, six);
                v.Store(y + j);
            }
        }
        for (; j < n; j++)
        {
            float v = x[j] + bias;
            if (residual != null) v += residual[j];
            if (act != Activation.None) v = MathF.Max(v, 0f);
            if (act == Activation.Relu6) v = MathF.Min(v, 6f);
            y[j] = v;
        }
    }
}
