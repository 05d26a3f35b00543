using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// C[M, N] += A·Bᵀ where row i of A and row j of B are contiguous along the reduction: A row i at
/// <c>a + i·lda</c>, B row j at <c>b + off[j]</c>. 4×4 tiles of 16 Vector512 accumulators, 8 loads per 16 FMAs,
/// reduced horizontally once per tile. Used for weight gradients (dW[o, tap] = Σ_j dY[o, j]·xpad[off[tap] + j]).
/// The reduction length k must be a multiple of 16 (callers zero-pad).
/// </summary>
internal static unsafe class DotKernel
{
    /// <summary>Reduction block and output-channel block: a 4-row × 2048-float block of A (32 KB) stays in L1 while
    /// every group of 4 B rows passes over it. Measured on the Intel Xeon (weight gradient of the reference 3×3 64→64
    /// conv, 8×64×56×56): Kb×Mb 512×16 160 GFLOP/s, 1024×16 150, 1024×4 175, 2048×4 180, 4096×4 156, 2048×8 158; the
    /// resnet-mini step went from 88-90 to 83-86 ms. A longer block sums fewer partial vectors horizontally (16 per tile
    /// and block), which costs as much as a fifth of the multiply-adds at Kb = 512.</summary>
    internal static int Kb { get; set; } = 2048;
    internal static int Mb { get; set; } = 4;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(float* a, int lda, float* b, int* off, int m, int n, int k, float* c, int ldc)
    {
        for (int k0 = 0; k0 < k; k0 += Kb)
        {
            int kb = Math.Min(Kb, k - k0);
            for (int i0 = 0; i0 < m; i0 += Mb)
            {
                int mb = Math.Min(Mb, m - i0);
                for (int j = 0; j < n; j += 4)
                {
                    int nj = Math.Min(4, n - j);
                    for (int i = i0; i < i0 + mb; i += 4)
                    {
                        int mi = Math.Min(4, i0 + mb - i);
                        if (mi == 4 && nj == 4) Tile4x4(a + (long)i * lda + k0, lda, b + k0, off + j, c + (long)i * ldc + j, ldc, kb);
                        else Small(a + (long)i * lda + k0, lda, b + k0, off + j, c + (long)i * ldc + j, ldc, kb, mi, nj);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4(float* a, int lda, float* b, int* off, float* c, int ldc, int k)
    {
        if (!Simd.Use512) { Small(a, lda, b, off, c, ldc, k, 4, 4); return; }
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        float* b0 = b + off[0], b1 = b + off[1], b2 = b + off[2], b3 = b + off[3];
        Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
        Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        for (int p = 0; p < k; p += 16)
        {
            var x0 = Vector512.Load(a0 + p); var x1 = Vector512.Load(a1 + p); var x2 = Vector512.Load(a2 + p); var x3 = Vector512.Load(a3 + p);
            var y = Vector512.Load(b0 + p);
            s00 = Vector512.FusedMultiplyAdd(x0, y, s00); s10 = Vector512.FusedMultiplyAdd(x1, y, s10); s20 = Vector512.FusedMultiplyAdd(x2, y, s20); s30 = Vector512.FusedMultiplyAdd(x3, y, s30);
            y = Vector512.Load(b1 + p);
            s01 = Vector512.FusedMultiplyAdd(x0, y, s01); s11 = Vector512.FusedMultiplyAdd(x1, y, s11); s21 = Vector512.FusedMultiplyAdd(x2, y, s21); s31 = Vector512.FusedMultiplyAdd(x3, y, s31);
            y = Vector512.Load(b2 + p);
            s02 = Vector512.FusedMultiplyAdd(x0, y, s02); s12 = Vector512.FusedMultiplyAdd(x1, y, s12); s22 = Vector512.FusedMultiplyAdd(x2, y, s22); s32 = Vector512.FusedMultiplyAdd(x3, y, s32);
            y = Vector512.Load(b3 + p);
            s03 = Vector512.FusedMultiplyAdd(x0, y, s03); s13 = Vector512.FusedMultiplyAdd(x1, y, s13); s23 = Vector512.FusedMultiplyAdd(x2, y, s23); s33 = Vector512.FusedMultiplyAdd(x3, y, s33);
        }
        c[0] += Vector512.Sum(s00); c[1] += Vector512.Sum(s01); c[2] += Vector512.Sum(s02); c[3] += Vector512.Sum(s03);
        c += ldc; c[0] += Vector512.Sum(s10); c[1] += Vector512.Sum(s11); c[2] += Vector512.Sum(s12); c[3] += Vector512.Sum(s13);
        c += ldc; c[0] += Vector512.Sum(s20); c[1] += Vector512.Sum(s21); c[2] += Vector512.Sum(s22); c[3] += Vector512.Sum(s23);
        c += ldc; c[0] += Vector512.Sum(s30); c[1] += Vector512.Sum(s31); c[2] += Vector512.Sum(s32); c[3] += Vector512.Sum(s33);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Small(float* a, int lda, float* b, int* off, float* c, int ldc, int k, int mi, int nj)
    {
        for (int i = 0; i < mi; i++)
            for (int j = 0; j < nj; j++)
                c[(long)i * ldc + j] += System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(a + (long)i * lda, k), new ReadOnlySpan<float>(b + off[j], k));
    }
}
