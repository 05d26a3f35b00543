using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Single-precision GEMM, row-major: C = op(A)·op(B) (+ C when accumulating). Blocked over K and N so a
/// panel of B stays in L2, a 6×32 register-blocked Vector512 FMA micro-kernel (Vector256 and scalar
/// fallbacks), rows split across cores.
/// </summary>
internal static unsafe class Gemm
{
    private const int Kc = 256, Nc = 512, Mr = 6;

    /// <summary>
    /// C[M,N] (=|+=) op(A)[M,K] · op(B)[K,N]. With <paramref name="transA"/>, A is stored [K,M]; with
    /// <paramref name="transB"/>, B is stored [N,K]. Leading dimensions are the stored row lengths.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if (k == 0) { if (!accumulate) for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear(); return; }
        float[]? ta = null, tb = null;
        if (transA) { ta = Transpose(a, k, m, lda); a = ta; lda = k; }
        if (transB) { tb = Transpose(b, n, k, ldb); b = tb; ldb = n; }
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
        {
            var A = pa; var B = pb; var C = pc; int la = lda, lb = ldb, lc = ldc; bool acc = accumulate;
            long work = (long)m * n * k;
            int threads = work < 1 << 18 ? 1 : Math.Min(Environment.ProcessorCount, (m + Mr - 1) / Mr);
            if (threads <= 1) Block(A, la, B, lb, C, lc, 0, m, n, k, acc);
            else
            {
                int rowsPer = ((m + threads - 1) / threads + Mr - 1) / Mr * Mr;
                Parallel.For(0, threads, t =>
                {
                    int r0 = t * rowsPer, r1 = Math.Min(m, r0 + rowsPer);
                    if (r0 < r1) Block(A, la, B, lb, C, lc, r0, r1, n, k, acc);
                });
            }
        }
    }

    private static float[] Transpose(ReadOnlySpan<float> src, int rows, int cols, int ld)
    {
        var t = GC.AllocateUninitializedArray<float>(rows * cols);
        const int T = 32;
        for (int i0 = 0; i0 < rows; i0 += T)
            for (int j0 = 0; j0 < cols; j0 += T)
                for (int i = i0; i < Math.Min(rows, i0 + T); i++)
                    for (int j = j0; j < Math.Min(cols, j0 + T); j++)
                        t[j * rows + i] = src[i * ld + j];
        return t;
    }

    private static void Block(float* a, int lda, float* b, int ldb, float* c, int ldc, int r0, int r1, int n, int k, bool accumulate)
    {
        for (int j0 = 0; j0 < n; j0 += Nc)
        {
            int nb = Math.Min(Nc, n - j0);
            for (int k0 = 0; k0 < k; k0 += Kc)
            {
                int kb = Math.Min(Kc, k - k0);
                bool add = accumulate || k0 > 0;
                int i = r0;
                for (; i + Mr <= r1; i += Mr) Rows6(a + i * lda + k0, lda, b + k0 * ldb + j0, ldb, c + i * ldc + j0, ldc, nb, kb, add);
                for (; i < r1; i++) Row1(a + i * lda + k0, b + k0 * ldb + j0, ldb, c + i * ldc + j0, nb, kb, add);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows6(float* a, int lda, float* b, int ldb, float* c, int ldc, int n, int k, bool add)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + 32 <= n; j += 32)
            {
                Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
                if (add)
                {
                    c00 = Vector512.Load(c + j); c01 = Vector512.Load(c + j + 16);
                    c10 = Vector512.Load(c + ldc + j); c11 = Vector512.Load(c + ldc + j + 16);
                    c20 = Vector512.Load(c + 2 * ldc + j); c21 = Vector512.Load(c + 2 * ldc + j + 16);
                    c30 = Vector512.Load(c + 3 * ldc + j); c31 = Vector512.Load(c + 3 * ldc + j + 16);
                    c40 = Vector512.Load(c + 4 * ldc + j); c41 = Vector512.Load(c + 4 * ldc + j + 16);
                    c50 = Vector512.Load(c + 5 * ldc + j); c51 = Vector512.Load(c + 5 * ldc + j + 16);
                }
                else c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector512<float>.Zero;
                float* bp = b + j; float* a0 = a;
                for (int p = 0; p < k; p++, bp += ldb, a0++)
                {
                    var b0 = Vector512.Load(bp); var b1 = Vector512.Load(bp + 16);
                    var x = Vector512.Create(a0[0]);
                    c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                    x = Vector512.Create(a0[lda]);
                    c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                    x = Vector512.Create(a0[2 * lda]);
                    c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                    x = Vector512.Create(a0[3 * lda]);
                    c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                    x = Vector512.Create(a0[4 * lda]);
                    c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
                    x = Vector512.Create(a0[5 * lda]);
                    c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
                }
                c00.Store(c + j); c01.Store(c + j + 16);
                c10.Store(c + ldc + j); c11.Store(c + ldc + j + 16);
                c20.Store(c + 2 * ldc + j); c21.Store(c + 2 * ldc + j + 16);
                c30.Store(c + 3 * ldc + j); c31.Store(c + 3 * ldc + j + 16);
                c40.Store(c + 4 * ldc + j); c41.Store(c + 4 * ldc + j + 16);
                c50.Store(c + 5 * ldc + j); c51.Store(c + 5 * ldc + j + 16);
            }
        }
        if (j < n)
            for (int r = 0; r < Mr; r++)
                Tail(a + r * lda, b, ldb, c + r * ldc, j, n, k, add);
    }

    private static void Row1(float* a, float* b, int ldb, float* c, int n, int k, bool add) => Tail(a, b, ldb, c, 0, n, k, add);

    /// <summary>One row of C, columns [j, n): Vector256 chunks, then scalar.</summary>
    private static void Tail(float* a, float* b, int ldb, float* c, int j, int n, int k, bool add)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 8 <= n; j += 8)
            {
                var acc = add ? Vector256.Load(c + j) : Vector256<float>.Zero;
                float* bp = b + j;
                for (int p = 0; p < k; p++, bp += ldb) acc = Vector256.FusedMultiplyAdd(Vector256.Create(a[p]), Vector256.Load(bp), acc);
                acc.Store(c + j);
            }
        }
        for (; j < n; j++)
        {
            float s = add ? c[j] : 0f;
            float* bp = b + j;
            for (int p = 0; p < k; p++, bp += ldb) s = MathF.FusedMultiplyAdd(a[p], *bp, s);
            c[j] = s;
        }
    }
}
